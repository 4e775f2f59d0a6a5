"""The double-entry journal the reports' consumer posts, its chart of account codes and the
months finance has closed."""

from decimal import Decimal

from django.db import models

from customers.models import Customer

AMOUNT = {"max_digits": 19, "decimal_places": 4, "default": Decimal(0)}


class AccountRole(models.TextChoices):
    ACCOUNTS_RECEIVABLE = "accounts_receivable", "Accounts receivable"
    CASH = "cash", "Cash"
    DEFERRED_REVENUE = "deferred_revenue", "Deferred revenue"
    REVENUE = "revenue", "Revenue"
    TAX_PAYABLE = "tax_payable", "Tax payable"
    UNBILLED_RECEIVABLE = "unbilled_receivable", "Unbilled receivable"
    CUSTOMER_BALANCE = "customer_balance", "Customer balance"


class LedgerAccount(models.Model):
    """The code the general ledger knows a role by (the contract's name by default). A new
    code applies to entries posted from then on."""

    role = models.CharField(max_length=30, choices=AccountRole.choices, unique=True)
    code = models.CharField(max_length=50)
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["role"]

    def __str__(self) -> str:
        return f"{self.code} ({self.get_role_display()})"


class EntryKind(models.TextChoices):
    INVOICE = "invoice", "Invoice finalized"
    PAYMENT = "payment", "Payment"
    RECOGNITION = "recognition", "Revenue recognised"
    CREDIT_NOTE = "credit_note", "Credit note"
    REFUND = "refund", "Refund"
    USAGE_ACCRUAL = "usage_accrual", "Usage accrual"
    BALANCE = "balance", "Customer balance"


class JournalEntry(models.Model):
    """A balanced entry (its lines' debits equal their credits). Never changed: a correction
    is another entry, dated in the first open month."""

    date = models.DateField()
    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    source = models.CharField(max_length=120, help_text='What it records, e.g. "INV-2026-000001".')
    source_key = models.CharField(
        max_length=150, unique=True, help_text="Posted once per key (the consumer's idempotency)."
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    currency = models.CharField(max_length=3)
    memo = models.CharField(max_length=300, blank=True)
    posted_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "journal entries"
        ordering = ["date", "pk"]
        indexes = [
            models.Index(fields=["date", "kind"]),
            models.Index(fields=["customer", "date"]),
            models.Index(fields=["currency", "date"]),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.kind} {self.source}"


class JournalLine(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.CASCADE, related_name="lines")
    role = models.CharField(max_length=30, choices=AccountRole.choices)
    account = models.CharField(max_length=50, help_text="The role's code when posted.")
    debit = models.DecimalField(**AMOUNT)
    credit = models.DecimalField(**AMOUNT)

    class Meta:
        ordering = ["entry", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(debit__gte=0, credit__gte=0), name="journal_line_not_negative"
            )
        ]


class MonthClose(models.Model):
    """A closed month: nothing more is posted in it."""

    month = models.DateField(unique=True, help_text="First day of the month.")
    closed_at = models.DateTimeField()
    closed_by = models.CharField(max_length=150, blank=True)
    after_event = models.BigIntegerField(
        default=0, help_text="The last billing event read before it closed."
    )

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} closed"
