"""Recognition schedules: derived from billing's finalized invoices and credit notes by the
reports' consumer (reports/consumer.py), never written by billing."""

from decimal import Decimal

from django.db import models

from billing.models import CreditNote, Invoice, InvoiceLine
from customers.models import Customer

AMOUNT = {"max_digits": 19, "decimal_places": 4, "default": Decimal(0)}


class RevenueSchedule(models.Model):
    """One invoice line as a performance obligation: its net amount (never tax) recognised
    daily over [start, end), or at once on `booked_on` when it has no period."""

    invoice_line = models.OneToOneField(InvoiceLine, on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    kind = models.CharField(max_length=20, help_text="The invoice line's kind.")
    amount = models.DecimalField(**AMOUNT, help_text="Net of tax, as billed.")
    start = models.DateField(null=True, blank=True)
    end = models.DateField(null=True, blank=True, help_text="Exclusive.")
    booked_on = models.DateField(help_text="When it was billed (or the first open day).")
    booking_month = models.DateField(help_text="First day of the month billed in.")
    reversed_amount = models.DecimalField(**AMOUNT, help_text="Credited so far.")
    deferred_reversed = models.DecimalField(
        **AMOUNT, help_text="What of the credits came off deferred revenue."
    )
    # What is still to recognise after the last credit: `basis_amount` over
    # [basis_start, end); everything before basis_start is recognised already.
    basis_amount = models.DecimalField(**AMOUNT)
    basis_start = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["currency", "booking_month"]),
            models.Index(fields=["customer", "booking_month"]),
        ]

    def __str__(self) -> str:
        return f"Line #{self.invoice_line_id}: {self.amount} {self.currency}"


class RecognitionLine(models.Model):
    """What a schedule moves from deferred revenue to revenue in one month; `posted` is how
    much of it the journal holds so far."""

    schedule = models.ForeignKey(RevenueSchedule, on_delete=models.CASCADE, related_name="lines")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    booking_month = models.DateField()
    month = models.DateField(help_text="First day of the month recognised in.")
    amount = models.DecimalField(**AMOUNT)
    posted = models.DecimalField(**AMOUNT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["schedule", "month"], name="recognition_line_month")
        ]
        indexes = [
            models.Index(fields=["currency", "month"]),
            models.Index(fields=["customer", "month"]),
        ]


class RevenueReversal(models.Model):
    """A credit (credit note, void) taken off a schedule: first from what was still
    deferred, the rest from revenue of the month it is dated in."""

    schedule = models.ForeignKey(
        RevenueSchedule, on_delete=models.CASCADE, related_name="reversals"
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    credit_note = models.ForeignKey(
        CreditNote, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    source = models.CharField(max_length=120, help_text='E.g. "credit_note:12" or "void:34".')
    on = models.DateField()
    month = models.DateField(help_text="First day of the month of `on`.")
    amount = models.DecimalField(**AMOUNT)
    from_deferred = models.DecimalField(**AMOUNT)
    from_revenue = models.DecimalField(**AMOUNT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["schedule", "source"], name="revenue_reversal_once")
        ]
        indexes = [models.Index(fields=["currency", "month"])]


class UsageAccrual(models.Model):
    """Usage consumed by month end and not invoiced yet: revenue of that month, held as
    unbilled receivable (reversed on the first day of the next month)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    month = models.DateField()
    amount = models.DecimalField(**AMOUNT)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "currency", "month"], name="usage_accrual_once"
            )
        ]
        indexes = [models.Index(fields=["currency", "month"])]
