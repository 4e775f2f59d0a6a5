"""Payments: gateways and routing, stored payment methods (tokens only), payments with their
attempts, allocations to invoices, refunds and incoming bank transfers.

A payment is one intent to collect money (usually an invoice's amount due). Each call to a
gateway is an attempt, recorded as STARTED before the call with an idempotency key derived
from the attempt row, so a retry or a janitor can always tell what was already asked.
"""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django_fsm import RETURN_VALUE, FSMField, FSMModelMixin, transition

from billing.invoicing.models.invoices import AMOUNT, Invoice
from catalog.validators import code_validator, validate_country, validate_currency
from customers.models import Customer


class GatewayAdapter(models.TextChoices):
    SANDBOX = "sandbox", "Sandbox (offline test gateway)"
    STRIPE = "stripe", "Stripe"
    BANK_TRANSFER = "bank_transfer", "Bank transfer / manual"


class MethodKind(models.TextChoices):
    CARD = "card", "Card"
    US_BANK_ACCOUNT = "us_bank_account", "ACH debit (US bank account)"
    SEPA_DEBIT = "sepa_debit", "SEPA direct debit"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"


class Gateway(models.Model):
    """A configured payment gateway. Gateways sharing a `vault` can charge the same stored
    payment methods, so a charge fails over between them."""

    code = models.CharField(max_length=50, unique=True, validators=[code_validator])
    name = models.CharField(max_length=100)
    adapter = models.CharField(max_length=20, choices=GatewayAdapter.choices)
    vault = models.CharField(
        max_length=50,
        help_text="Where its payment method tokens live; gateways with the same vault can "
        "charge the same methods (failover).",
    )
    active = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(default=100, help_text="Lower is tried first.")
    currencies = models.JSONField(
        default=list, blank=True, help_text="Currency codes it accepts; empty: all."
    )
    method_kinds = models.JSONField(
        default=list, blank=True, help_text="Payment method kinds it accepts; empty: all."
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text='Adapter options. Sandbox: {"outage": true} makes every call fail with a '
        "gateway error (to exercise failover).",
    )

    class Meta:
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return self.code

    def accepts(self, *, currency: str, kind: str) -> bool:
        return (not self.currencies or currency in self.currencies) and (
            not self.method_kinds or kind in self.method_kinds
        )


class RoutingRule(models.Model):
    """Which gateways, in which order, charge the payments matching every condition set
    here (blank conditions match anything). The first matching rule by priority wins;
    without one, every active gateway of the method's vault is tried by priority."""

    name = models.CharField(max_length=100)
    priority = models.PositiveIntegerField(default=100, help_text="Lower is matched first.")
    active = models.BooleanField(default=True)
    currency = models.CharField(max_length=3, blank=True, validators=[validate_currency])
    method_kind = models.CharField(max_length=20, blank=True, choices=MethodKind.choices)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    min_amount = models.DecimalField(max_digits=19, decimal_places=4, null=True, blank=True)
    max_amount = models.DecimalField(max_digits=19, decimal_places=4, null=True, blank=True)
    gateways = models.JSONField(help_text="Gateway codes in the order to try them.")

    class Meta:
        ordering = ["priority", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_amount__isnull=True, max_amount__isnull=True) | ~Q(currency=""),
                name="routing_rule_amount_needs_currency",
            )
        ]

    def __str__(self) -> str:
        return self.name


class PaymentMethodStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DETACHED = "detached", "Detached"


class PaymentMethod(models.Model):
    """A card or bank account on file: the gateway's token and what may be shown of it,
    never a card number."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payment_methods")
    vault = models.CharField(max_length=50, help_text="Where the token lives (see Gateway).")
    kind = models.CharField(max_length=20, choices=MethodKind.choices)
    token = models.CharField(max_length=255, help_text="The gateway's id for it (pm_…).")
    gateway_customer_id = models.CharField(max_length=255, blank=True)
    brand = models.CharField(max_length=30, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    bank_name = models.CharField(max_length=100, blank=True)
    country = models.CharField(
        max_length=2, blank=True, validators=[validate_country], help_text="Issuing country."
    )
    fingerprint = models.CharField(max_length=100, blank=True)
    risk_level = models.CharField(
        max_length=20, blank=True, help_text="The gateway's last fraud risk level (Radar)."
    )
    is_default = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=PaymentMethodStatus.choices, default=PaymentMethodStatus.ACTIVE
    )
    created_at = models.DateTimeField()
    detached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-is_default", "-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["vault", "token"], name="payment_method_token_unique"),
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(is_default=True, status="active"),
                name="payment_method_one_default",
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        if self.kind == MethodKind.CARD:
            expiry = f" {self.exp_month:02d}/{self.exp_year}" if self.exp_year else ""
            return f"{self.brand.title() or 'Card'} •••• {self.last4}{expiry}"
        return f"{self.bank_name or self.get_kind_display()} •••• {self.last4}"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    REVIEW = "review", "In review (blocked by a fraud check)"
    REQUIRES_ACTION = "requires_action", "Requires action (3-D Secure)"
    UNKNOWN = "unknown", "Unknown outcome (being resolved)"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"


P = PaymentStatus
IN_FLIGHT = [P.PENDING, P.REVIEW, P.REQUIRES_ACTION, P.UNKNOWN]
COLLECTED = [P.SUCCEEDED, P.PARTIALLY_REFUNDED, P.REFUNDED]


class PaymentSource(models.TextChoices):
    AUTOMATIC = "automatic", "Automatic collection"
    API = "api", "API"
    PORTAL = "portal", "Portal"
    DUNNING = "dunning", "Dunning retry"
    MANUAL = "manual", "Recorded by staff"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    GATEWAY = "gateway", "Reported by the gateway"


class Payment(FSMModelMixin, models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    invoice = models.ForeignKey(
        Invoice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        help_text="The invoice it was made for (where it is applied: see allocations).",
    )
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**AMOUNT)
    amount_refunded = models.DecimalField(**AMOUNT)
    status = FSMField(default=P.PENDING, choices=P.choices, protected=True)
    source = models.CharField(max_length=20, choices=PaymentSource.choices)
    method = models.ForeignKey(
        PaymentMethod, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    kind = models.CharField(max_length=20, choices=MethodKind.choices)
    gateway = models.ForeignKey(
        Gateway,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        help_text="The gateway of the last attempt.",
    )
    gateway_reference = models.CharField(max_length=255, blank=True, db_index=True)
    failure_code = models.CharField(max_length=60, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    review_reason = models.CharField(max_length=500, blank=True)
    next_action = models.JSONField(
        default=dict, blank=True, help_text="What the customer must do (3-D Secure)."
    )
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(help_text="When it was asked for (the service's `at`).")
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["customer", "created_at"]),
            models.Index(fields=["status", "created_at"]),
        ]
        constraints = [
            # One collection in flight per invoice: concurrent requests cannot both charge.
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(status__in=IN_FLIGHT),
                name="payment_one_in_flight_per_invoice",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0, amount_refunded__lte=models.F("amount")),
                name="payment_refund_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"Payment #{self.pk} {self.amount} {self.currency} ({self.status})"

    # Transitions change fields on self only; services lock, save and record the event.
    @transition(field=status, source=P.PENDING, target=P.REVIEW)
    def hold_for_review(self, *, reason: str):
        self.review_reason = reason[:500]

    @transition(field=status, source=P.REVIEW, target=P.PENDING)
    def approve(self):
        pass

    @transition(field=status, source=[P.PENDING, P.UNKNOWN], target=P.REQUIRES_ACTION)
    def require_action(self, *, next_action: dict):
        self.next_action = next_action

    @transition(field=status, source=P.PENDING, target=P.UNKNOWN)
    def mark_unknown(self):
        pass

    @transition(field=status, source=[P.PENDING, P.REQUIRES_ACTION, P.UNKNOWN], target=P.SUCCEEDED)
    def succeed(self, *, at, reference: str = ""):
        self.succeeded_at, self.next_action = at, {}
        self.gateway_reference = reference or self.gateway_reference
        self.failure_code = self.failure_message = ""

    @transition(
        field=status, source=[P.PENDING, P.REVIEW, P.REQUIRES_ACTION, P.UNKNOWN], target=P.FAILED
    )
    def fail(self, *, at, code: str, message: str):
        self.failed_at, self.next_action = at, {}
        self.failure_code, self.failure_message = code[:60], message[:500]

    @transition(
        field=status,
        source=[P.SUCCEEDED, P.PARTIALLY_REFUNDED],
        target=RETURN_VALUE(P.PARTIALLY_REFUNDED, P.REFUNDED),
    )
    def record_refund(self, *, amount: Decimal):
        self.amount_refunded += amount
        return P.REFUNDED if self.amount_refunded >= self.amount else P.PARTIALLY_REFUNDED


class AttemptStatus(models.TextChoices):
    STARTED = "started", "Started (call in flight or outcome not recorded)"
    SUCCEEDED = "succeeded", "Succeeded"
    DECLINED = "declined", "Declined"
    REQUIRES_ACTION = "requires_action", "Requires action"
    PROCESSING = "processing", "Processing (settles later)"
    ERROR = "error", "Gateway error"
    UNKNOWN = "unknown", "Unknown outcome"
    BLOCKED = "blocked", "Blocked by a fraud check"


class PaymentAttempt(models.Model):
    """One call (or one refused call) to a gateway for a payment."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    gateway = models.ForeignKey(
        Gateway, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=20, choices=AttemptStatus.choices)
    idempotency_key = models.CharField(max_length=100, unique=True)
    gateway_reference = models.CharField(max_length=255, blank=True, db_index=True)
    code = models.CharField(
        max_length=60, blank=True, help_text="Decline code, error code or fraud rule."
    )
    message = models.CharField(max_length=500, blank=True)
    risk_level = models.CharField(max_length=20, blank=True)
    response = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["payment", "number"]
        constraints = [
            models.UniqueConstraint(fields=["payment", "number"], name="payment_attempt_number")
        ]
        indexes = [models.Index(fields=["status", "started_at"])]

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({self.status})"


class PaymentAllocation(models.Model):
    """Part of a payment applied to an invoice."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="payment_allocations"
    )
    amount = models.DecimalField(**AMOUNT)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["payment", "invoice"], name="allocation_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} of payment #{self.payment_id} to invoice #{self.invoice_id}"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Refund(FSMModelMixin, models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3)
    status = FSMField(default=RefundStatus.PENDING, choices=RefundStatus.choices, protected=True)
    reason = models.CharField(max_length=300, blank=True)
    credit_note = models.ForeignKey(
        "billing.CreditNote", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    idempotency_key = models.CharField(max_length=100, unique=True)
    gateway_reference = models.CharField(max_length=255, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")
        ]

    def __str__(self) -> str:
        return f"Refund #{self.pk} {self.amount} {self.currency} ({self.status})"

    @transition(field=status, source=RefundStatus.PENDING, target=RefundStatus.SUCCEEDED)
    def succeed(self, *, at, reference: str = ""):
        self.finished_at = at
        self.gateway_reference = reference or self.gateway_reference

    @transition(field=status, source=RefundStatus.PENDING, target=RefundStatus.FAILED)
    def fail(self, *, at, message: str):
        self.finished_at, self.failure_message = at, message[:500]


class BankTransferStatus(models.TextChoices):
    UNMATCHED = "unmatched", "Unmatched"
    MATCHED = "matched", "Matched"
    IGNORED = "ignored", "Ignored (not ours)"


class BankTransfer(models.Model):
    """Money received on the business's bank account: a bank statement line or an entry by
    staff. Matched to a customer (by the invoice payment reference in its remittance text),
    it becomes a succeeded payment applied to the customer's invoices."""

    bank_reference = models.CharField(
        max_length=100, unique=True, help_text="The bank's id of the transaction (deduplicates)."
    )
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3, validators=[validate_currency])
    received_at = models.DateTimeField()
    payer_name = models.CharField(max_length=200, blank=True)
    payer_account = models.CharField(max_length=64, blank=True)
    remittance = models.CharField(max_length=500, blank=True, help_text="The reference text.")
    status = models.CharField(
        max_length=10, choices=BankTransferStatus.choices, default=BankTransferStatus.UNMATCHED
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="bank_transfers"
    )
    payment = models.OneToOneField(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="bank_transfer"
    )
    statement = models.CharField(max_length=200, blank=True, help_text="Imported from.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["status", "received_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="bank_transfer_positive")
        ]

    def __str__(self) -> str:
        return f"{self.bank_reference}: {self.amount} {self.currency}"
