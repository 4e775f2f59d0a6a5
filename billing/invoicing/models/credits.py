"""Credit notes, the customer balance ledger, coupons and the discounts they grant.

The customer balance is not a number on a row: it is the sum of an append-only ledger of
balance transactions per customer and currency (+ credit to the customer, − consumed).
"""

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin

from billing.events.models import AppendOnlyError
from billing.invoicing.models.invoices import AMOUNT, Invoice, InvoiceLine
from billing.subscriptions.models.subscriptions import Subscription
from catalog.money import format_amount
from catalog.validators import code_validator, validate_currency
from customers.models import Customer


class CreditNoteReason(models.TextChoices):
    DUPLICATE = "duplicate", "Duplicate charge"
    FRAUDULENT = "fraudulent", "Fraudulent"
    ORDER_CHANGE = "order_change", "Order change"
    PRODUCT_UNSATISFACTORY = "product_unsatisfactory", "Product unsatisfactory"
    OTHER = "other", "Other"


class CreditNoteStatus(models.TextChoices):
    ISSUED = "issued", "Issued"
    VOID = "void", "Void"


class CreditNote(FSMModelMixin, models.Model):
    """A (full or partial) credit of an open or paid invoice, numbered in the "CN" series.

    `total` = `amount_due_reduction` (taken off what the open invoice still asked for)
    + `refund_amount` (to be paid back) + `credit_amount` (added to the customer balance).
    Amounts include the tax of the lines they credit.
    """

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_notes")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    currency = models.CharField(max_length=3)
    number = models.CharField(max_length=40, unique=True)
    status = FSMField(
        default=CreditNoteStatus.ISSUED, choices=CreditNoteStatus.choices, protected=True
    )
    reason = models.CharField(max_length=30, choices=CreditNoteReason.choices)
    memo = models.TextField(blank=True)
    subtotal = models.DecimalField(**AMOUNT, help_text="The total net of tax.")
    tax = models.DecimalField(**AMOUNT, help_text="The tax credited, in proportion.")
    taxes = models.JSONField(default=list, blank=True)
    total = models.DecimalField(**AMOUNT)
    amount_due_reduction = models.DecimalField(
        **AMOUNT, help_text="Part of the total taken off the amount due of the open invoice."
    )
    refund_amount = models.DecimalField(**AMOUNT, help_text="Part of the total to pay back.")
    credit_amount = models.DecimalField(
        **AMOUNT, help_text="Part of the total added to the customer balance."
    )
    created_at = models.DateTimeField(help_text="When it was issued (the service's `at`).")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["customer", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(total__gt=0), name="credit_note_total_positive"),
            models.CheckConstraint(
                condition=Q(
                    amount_due_reduction__gte=0, refund_amount__gte=0, credit_amount__gte=0
                ),
                name="credit_note_parts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class CreditNoteLine(models.Model):
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    invoice_line = models.ForeignKey(
        InvoiceLine,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_note_lines",
    )
    description = models.CharField(max_length=300)
    amount = models.DecimalField(
        **AMOUNT,
        help_text="Credited amount of the invoice line, tax included; negative when a full "
        "credit note gives back a discount line of the invoice.",
    )
    tax_amount = models.DecimalField(**AMOUNT, help_text="The tax inside `amount`.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["credit_note", "position", "pk"]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


class BalanceTransactionKind(models.TextChoices):
    CREDIT_NOTE = "credit_note", "Credit note"
    INVOICE_APPLIED = "invoice_applied", "Applied to an invoice"
    INVOICE_CREDIT = "invoice_credit", "Negative invoice total"
    ADJUSTMENT = "adjustment", "Adjustment"
    OVERPAYMENT = "overpayment", "Overpayment"
    SLA_CREDIT = "sla_credit", "SLA credit"


BT = BalanceTransactionKind


class BalanceTransaction(models.Model):
    """One entry of a customer's balance in one currency. Append-only: a mistake is corrected
    by another entry, never by editing one."""

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="balance_transactions"
    )
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(
        max_digits=19,
        decimal_places=4,
        help_text="+ credit to the customer, − consumed (applied to an invoice).",
    )
    kind = models.CharField(max_length=20, choices=BalanceTransactionKind.choices)
    invoice = models.ForeignKey(
        Invoice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="balance_transactions",
    )
    credit_note = models.ForeignKey(
        CreditNote,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="balance_transactions",
    )
    payment = models.ForeignKey(
        "billing.Payment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="balance_transactions",
    )
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(help_text="When it took effect (the service's `at`).")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["customer", "currency"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0), name="balance_transaction_amount_not_zero"
            ),
            # Each source moves the balance once: a retry finds the row and does nothing.
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(kind="invoice_applied"),
                name="balance_applied_once_per_invoice",
            ),
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(kind="invoice_credit"),
                name="balance_negative_invoice_once",
            ),
            models.UniqueConstraint(
                fields=["credit_note"],
                condition=Q(kind="credit_note"),
                name="balance_credit_note_once",
            ),
            models.UniqueConstraint(
                fields=["payment"],
                condition=Q(kind="overpayment"),
                name="balance_overpayment_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.kind} {self.amount} {self.currency}"

    def save(self, *args, **kwargs):
        # Integrity guard, not business logic: the ledger is never rewritten.
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("Balance transactions are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Balance transactions are append-only.")


class CouponKind(models.TextChoices):
    PERCENT = "percent", "Percent off"
    FIXED = "fixed", "Fixed amount off"


class CouponDuration(models.TextChoices):
    ONCE = "once", "Once"
    REPEATING = "repeating", "A number of periods"
    FOREVER = "forever", "Forever"


class Coupon(models.Model):
    """A reusable promise of a discount; redeeming it for a customer makes a `Discount`."""

    code = models.CharField(max_length=100, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=CouponKind.choices)
    # Their ranges depend on `kind`: billing.invoicing.services.discounts checks them (and the
    # constraint below guards the database).
    percent_off = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    amount_off = models.DecimalField(max_digits=19, decimal_places=4, null=True, blank=True)
    currency = models.CharField(
        max_length=3,
        blank=True,
        validators=[validate_currency],
        help_text="The currency of `amount_off` (fixed coupons only).",
    )
    duration = models.CharField(max_length=10, choices=CouponDuration.choices)
    duration_in_periods = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    max_redemptions = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    redeem_by = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="percent", percent_off__gt=0, percent_off__lte=100)
                | Q(kind="fixed", amount_off__gt=0),
                name="coupon_kind_amount",
            ),
            models.CheckConstraint(
                condition=Q(duration="repeating", duration_in_periods__gte=1)
                | (~Q(duration="repeating") & Q(duration_in_periods__isnull=True)),
                name="coupon_duration_periods",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def periods(self) -> int | None:
        """How many periods (invoices) a discount of this coupon lasts; None: forever."""
        if self.duration == CouponDuration.ONCE:
            return 1
        if self.duration == CouponDuration.REPEATING:
            return self.duration_in_periods
        return None

    @property
    def label(self) -> str:
        """ "20% off" or "10.00 USD off"."""
        if self.kind == CouponKind.PERCENT:
            return f"{format(self.percent_off.normalize(), 'f')}% off"
        return f"{format_amount(self.amount_off, self.currency)} {self.currency} off"


class Discount(models.Model):
    """A coupon redeemed for a customer (all its invoices in the currency) or for one of its
    subscriptions (that subscription's lines). Ends once it has applied to as many invoices
    as the coupon's duration allows."""

    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="discounts")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="discounts")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="discounts"
    )
    start_at = models.DateTimeField()
    periods_applied = models.PositiveIntegerField(default=0)
    end_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start_at", "-pk"]
        indexes = [models.Index(fields=["customer", "end_at"])]

    def __str__(self) -> str:
        return f"{self.coupon.code} for {self.customer.external_id}"

    @property
    def is_ended(self) -> bool:
        return self.end_at is not None
