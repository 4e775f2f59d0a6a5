"""Invoices, their lines, gapless number sequences and bill runs."""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from billing.subscriptions.models.subscriptions import Subscription
from customers.models import Customer

AMOUNT = {"max_digits": 19, "decimal_places": 4, "default": Decimal(0)}


class BillRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    COMPLETED_WITH_FAILURES = "completed_with_failures", "Completed with failures"
    FAILED = "failed", "Failed"
    ABANDONED = "abandoned", "Abandoned (worker stopped)"


ACTIVE_BILL_RUN = (BillRunStatus.QUEUED, BillRunStatus.RUNNING)


class BillRun(models.Model):
    """One pass over everything due by `as_of`. Rerunning bills nothing twice; at most one
    queued or running run per `as_of`."""

    as_of = models.DateTimeField()
    status = models.CharField(
        max_length=30, choices=BillRunStatus.choices, default=BillRunStatus.QUEUED
    )
    requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Touched after every batch while running."
    )
    last_customer_id = models.PositiveBigIntegerField(
        default=0, help_text="Customers up to this id are done: a resume continues after it."
    )
    customers_total = models.PositiveIntegerField(default=0)
    customers_seen = models.PositiveIntegerField(default=0)
    customers_failed = models.PositiveIntegerField(default=0)
    invoices_created = models.PositiveIntegerField(default=0)
    lines_created = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["as_of"],
                condition=Q(status__in=["queued", "running"]),
                name="billing_billrun_one_active_per_as_of",
            )
        ]

    def __str__(self) -> str:
        return f"Bill run #{self.pk} as of {self.as_of:%Y-%m-%d %H:%M}"


class BillRunFailure(models.Model):
    """A customer whose billing raised during a run; the run went on with the others."""

    bill_run = models.ForeignKey(BillRun, on_delete=models.CASCADE, related_name="failures")
    customer = models.ForeignKey(
        Customer, null=True, on_delete=models.SET_NULL, related_name="bill_run_failures"
    )
    customer_external_id = models.CharField(max_length=100, blank=True)
    error = models.TextField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.customer_external_id or self.customer_id}: {self.error[:60]}"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    VOID = "void", "Void"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"


I = InvoiceStatus  # noqa: E741


class Invoice(FSMModelMixin, models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    currency = models.CharField(max_length=3)
    status = FSMField(default=I.DRAFT, choices=I.choices, protected=True)
    series = models.CharField(max_length=20, default="INV")
    number = models.CharField(max_length=40, null=True, blank=True, unique=True)
    payment_reference = models.CharField(
        max_length=40,
        null=True,
        blank=True,
        unique=True,
        help_text="The structured reference (ISO 11649) a bank transfer should quote.",
    )
    bill_run = models.ForeignKey(
        BillRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="invoices"
    )
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    subtotal = models.DecimalField(**AMOUNT)
    discount = models.DecimalField(**AMOUNT)
    tax = models.DecimalField(**AMOUNT)
    taxes = models.JSONField(
        default=list, blank=True, help_text="One row per tax name, jurisdiction and rate."
    )
    tax_notes = models.JSONField(default=list, blank=True, help_text="E.g. the reverse charge.")
    tax_date = models.DateField(
        null=True, blank=True, help_text="The tax point the rates were chosen by."
    )
    buyer_tax_id = models.CharField(
        max_length=64, blank=True, help_text="The customer's VAT number when it was taxed."
    )
    seller_details = models.JSONField(
        default=dict, blank=True, help_text="The seller's name, address and numbers when issued."
    )
    total = models.DecimalField(**AMOUNT)
    amount_paid = models.DecimalField(**AMOUNT)
    amount_due = models.DecimalField(**AMOUNT)
    created_at = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    scheduled_issue_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A draft (one-off invoice) finalized by the schedule at this time; until "
        "then the draft grace period does not finalize it.",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["customer", "status"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(
                fields=["scheduled_issue_at"],
                name="invoice_scheduled_draft_idx",
                condition=Q(status="draft", scheduled_issue_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft #{self.pk}"

    @transition(field=status, source=I.DRAFT, target=I.OPEN)
    def finalize(self, *, number: str, at, due_at, payment_reference: str):
        self.number, self.issued_at, self.due_at = number, at, due_at
        self.payment_reference = payment_reference

    @transition(field=status, source=I.OPEN, target=I.PAID)
    def mark_paid(self, *, at):
        self.paid_at = at
        self.amount_paid, self.amount_due = self.amount_paid + self.amount_due, Decimal(0)

    @transition(field=status, source=[I.DRAFT, I.OPEN], target=I.VOID)
    def void(self, *, at):
        self.voided_at = at
        self.amount_due = Decimal(0)

    @transition(field=status, source=I.OPEN, target=I.UNCOLLECTIBLE)
    def mark_uncollectible(self):
        pass


class LineKind(models.TextChoices):
    SUBSCRIPTION = "subscription", "Subscription"
    USAGE = "usage", "Usage"
    PRORATION = "proration", "Proration"
    ADDON = "addon", "Add-on"
    ONE_TIME = "one_time", "One-time charge"
    CREDIT = "credit", "Credit"
    SLA_CREDIT = "sla_credit", "SLA credit"


class InvoiceLine(models.Model):
    """A billed amount. Without an invoice it is pending: the customer's next invoice in its
    currency takes it (proration of a mid-period change, a one-time charge)."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.CASCADE, related_name="lines"
    )
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_lines"
    )
    kind = models.CharField(max_length=20, choices=LineKind.choices)
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=19, decimal_places=4, default=Decimal(1))
    unit_amount = models.DecimalField(max_digits=28, decimal_places=12, default=Decimal(0))
    amount = models.DecimalField(**AMOUNT, help_text="Rounded once to the currency's minor unit.")
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal(0))
    tax_amount = models.DecimalField(**AMOUNT)
    taxes = models.JSONField(default=list, blank=True, help_text="The tax's components.")
    tax_code = models.CharField(
        max_length=10, blank=True, help_text="Blank: the subscription's plan decides."
    )
    tax_behavior = models.CharField(
        max_length=10, blank=True, help_text="Blank: the subscription's plan decides."
    )
    billing_key = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="What this line bills (e.g. a subscription's base fee for one period); "
        "unique, so nothing is ever billed twice.",
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["invoice", "position", "pk"]
        indexes = [
            models.Index(
                fields=["customer", "currency"],
                name="pending_line_idx",
                condition=Q(invoice__isnull=True),
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_start__isnull=True) | Q(period_end__gt=models.F("period_start")),
                name="invoice_line_period_not_empty",
            )
        ]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


class InvoiceNumberSequence(models.Model):
    """The next number of a series and year; locked while a number is taken (no gaps)."""

    series = models.CharField(max_length=20)
    year = models.PositiveSmallIntegerField()
    next_value = models.PositiveBigIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="invoice_sequence_unique")
        ]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: next {self.next_value}"
