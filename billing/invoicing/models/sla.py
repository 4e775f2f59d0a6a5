"""Credits owed when a period's measured uptime missed the plan's SLA."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from billing.invoicing.models.credits import BalanceTransaction
from billing.invoicing.models.invoices import AMOUNT
from billing.subscriptions.models.subscriptions import Subscription


class SlaCredit(models.Model):
    """One credit per subscription and period, as a balance credit the next invoices use."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="sla_credits"
    )
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    uptime = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="Measured uptime of the period, in percent.",
    )
    uptime_target = models.DecimalField(max_digits=6, decimal_places=3)
    credit_percent = models.DecimalField(max_digits=5, decimal_places=2)
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3)
    balance_transaction = models.OneToOneField(
        BalanceTransaction, on_delete=models.PROTECT, related_name="sla_credit"
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200, default="system")

    class Meta:
        verbose_name = "SLA credit"
        ordering = ["-period_start", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"], name="sla_credit_once_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"SLA credit {self.amount} {self.currency} for subscription {self.subscription_id}"
