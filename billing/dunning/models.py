"""Dunning: campaigns (what to do when a payment fails) and the case of each unpaid invoice."""

from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from billing.invoicing.models.invoices import Invoice
from catalog.validators import code_validator
from customers.models import Customer


class FinalAction(models.TextChoices):
    SUSPEND = "suspend", "Suspend the subscriptions"
    CANCEL = "cancel", "Cancel the subscriptions"
    NONE = "none", "Nothing (leave them past due)"


class DunningCampaign(models.Model):
    """Retries on days after the first failure, reminders around the due date, and what
    happens when the last retry has failed."""

    code = models.CharField(max_length=50, unique=True, validators=[code_validator])
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False)
    retry_days = models.JSONField(
        default=list, help_text="Days after the first failure to retry, e.g. [1, 3, 5, 7]."
    )
    reminder_days_before_due = models.JSONField(
        default=list, blank=True, help_text="Email the customer this many days before due."
    )
    reminder_days_after_due = models.JSONField(
        default=list, blank=True, help_text="Email the customer this many days after due."
    )
    final_action = models.CharField(
        max_length=10, choices=FinalAction.choices, default=FinalAction.SUSPEND
    )
    final_action_after_days = models.PositiveIntegerField(
        default=0, help_text="Days after the last failed retry before the final action."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="dunning_one_default"
            )
        ]

    def __str__(self) -> str:
        return self.name


class DunningStatus(models.TextChoices):
    ACTIVE = "active", "Active (retrying)"
    RECOVERED = "recovered", "Recovered (paid)"
    EXHAUSTED = "exhausted", "Exhausted (final action taken)"
    CLOSED = "closed", "Closed (invoice voided or written off)"


D = DunningStatus


class DunningCase(FSMModelMixin, models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="dunning_cases")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="dunning_cases")
    campaign = models.ForeignKey(DunningCampaign, on_delete=models.PROTECT, related_name="cases")
    status = FSMField(default=D.ACTIVE, choices=D.choices, protected=True)
    started_at = models.DateTimeField(help_text="The first failed payment.")
    retries_done = models.PositiveIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    final_action_at = models.DateTimeField(null=True, blank=True)
    last_failure_code = models.CharField(max_length=60, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_retry_at"]),
            models.Index(fields=["status", "final_action_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"], condition=Q(status="active"), name="dunning_one_active_case"
            )
        ]

    def __str__(self) -> str:
        return f"Dunning #{self.pk} for {self.invoice} ({self.status})"

    @transition(field=status, source=D.ACTIVE, target=D.RECOVERED)
    def recover(self, *, at, outcome: str = "paid"):
        self.ended_at, self.outcome, self.next_retry_at = at, outcome, None
        self.final_action_at = None

    @transition(field=status, source=D.ACTIVE, target=D.EXHAUSTED)
    def exhaust(self, *, at, outcome: str):
        self.ended_at, self.outcome, self.next_retry_at = at, outcome, None

    @transition(field=status, source=D.ACTIVE, target=D.CLOSED)
    def close(self, *, at, outcome: str):
        self.ended_at, self.outcome, self.next_retry_at = at, outcome, None
        self.final_action_at = None
