"""Subscriptions: a customer on a plan version, with a lifecycle and a period schedule."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from billing.subscriptions import periods
from catalog.models import Plan
from customers.models import Customer


class CancelReason(models.TextChoices):
    """The reasons a cancellation is given, for churn reports (Stripe's codes). The API
    accepts other text too; the portal offers `CUSTOMER_CANCEL_REASONS`."""

    TOO_EXPENSIVE = "too_expensive", "It is too expensive"
    MISSING_FEATURES = "missing_features", "Some features are missing"
    SWITCHED_SERVICE = "switched_service", "We switched to another service"
    UNUSED = "unused", "We don't use it enough"
    CUSTOMER_SERVICE = "customer_service", "Customer service was not good enough"
    TOO_COMPLEX = "too_complex", "It is too hard to use"
    LOW_QUALITY = "low_quality", "Quality was less than expected"
    OTHER = "other", "Another reason"
    NONPAYMENT = "nonpayment", "Not paid (dunning)"
    STAFF = "staff", "Canceled by staff"


CUSTOMER_CANCEL_REASONS = [
    (reason.value, reason.label)
    for reason in CancelReason
    if reason not in (CancelReason.NONPAYMENT, CancelReason.STAFF)
]


def cancel_reason_label(code: str) -> str:
    """The label of a known reason code, else the code itself (free text from the API)."""
    return CancelReason(code).label if code in CancelReason.values else code


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", "Pending (starts later)"
    INCOMPLETE = "incomplete", "Incomplete (first payment failed)"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired (never paid)"
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    PAUSED = "paused", "Paused"
    SUSPENDED = "suspended", "Suspended"
    CANCELED = "canceled", "Canceled"
    EXPIRED = "expired", "Expired"


S = SubscriptionStatus
LIVE = [S.PENDING, S.INCOMPLETE, S.TRIALING, S.ACTIVE, S.PAST_DUE, S.PAUSED, S.SUSPENDED]


class Subscription(FSMModelMixin, models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    quantity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    status = FSMField(default=S.PENDING, choices=S.choices, protected=True)
    currency = models.CharField(max_length=3, editable=False)
    # The schedule (see billing.subscriptions.periods), fixed when the subscription starts billing.
    timezone = models.CharField(max_length=64, editable=False)
    interval = models.CharField(max_length=10, editable=False)
    interval_count = models.PositiveSmallIntegerField(default=1, editable=False)
    billing_day = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(31)]
    )
    start_at = models.DateTimeField()
    start_date = models.DateField(editable=False)
    anchor_date = models.DateField(editable=False)
    anchor_day = models.PositiveSmallIntegerField(editable=False)
    trial_end_at = models.DateTimeField(null=True, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    billed_through = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="End of the last period whose base fee was invoiced.",
    )
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=100, blank=True)
    cancel_comment = models.TextField(blank=True)
    churn = models.CharField(
        max_length=12,
        blank=True,
        choices=[("voluntary", "Voluntary"), ("involuntary", "Involuntary (non-payment)")],
        help_text="Why it ended, for churn reporting.",
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    scheduled_plan = models.ForeignKey(
        Plan,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Plan to switch to at the end of the current period.",
    )
    scheduled_quantity = models.PositiveIntegerField(null=True, blank=True)
    first_invoice = models.ForeignKey(
        "billing.Invoice",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The invoice made when it was created: a failed automatic charge of it "
        "makes the subscription incomplete.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "current_period_end"]),
            models.Index(fields=["customer", "status"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="subscription_quantity_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer.external_id} on {self.plan.code} ({self.status})"

    @property
    def schedule(self) -> periods.Schedule:
        return periods.Schedule(
            interval=self.interval,
            interval_count=self.interval_count,
            anchor=self.anchor_date,
            anchor_day=self.anchor_day,
            start_date=self.start_date,
            tz=self.timezone,
        )

    def set_period(self, period: periods.Period) -> None:
        self.current_period_start, self.current_period_end = period.start, period.end

    # Transitions change fields on self only; services lock, save and record the event.
    @transition(field=status, source=S.PENDING, target=S.TRIALING)
    def start_trial(self):
        pass

    @transition(field=status, source=[S.PENDING, S.TRIALING], target=S.ACTIVE)
    def activate(self):
        pass

    @transition(field=status, source=S.ACTIVE, target=S.INCOMPLETE)
    def mark_incomplete(self):
        pass

    @transition(field=status, source=S.INCOMPLETE, target=S.ACTIVE)
    def complete(self):
        pass

    @transition(field=status, source=S.INCOMPLETE, target=S.INCOMPLETE_EXPIRED)
    def expire_incomplete(self, *, at):
        self.ended_at = at

    @transition(field=status, source=S.ACTIVE, target=S.PAST_DUE)
    def mark_past_due(self):
        pass

    @transition(field=status, source=[S.ACTIVE, S.PAST_DUE], target=S.SUSPENDED)
    def suspend(self):
        pass

    @transition(field=status, source=[S.PAST_DUE, S.SUSPENDED], target=S.ACTIVE)
    def recover(self):
        pass

    @transition(field=status, source=S.ACTIVE, target=S.PAUSED)
    def pause(self, *, at):
        self.paused_at = at

    @transition(field=status, source=S.PAUSED, target=S.ACTIVE)
    def resume(self):
        self.paused_at = None

    @transition(field=status, source=LIVE, target=S.CANCELED)
    def cancel(self, *, at, reason: str = "", comment: str = "", involuntary: bool = False):
        self.canceled_at = self.canceled_at or at
        self.churn = "involuntary" if involuntary else "voluntary"
        self.ended_at = at
        self.cancel_reason = reason or self.cancel_reason
        self.cancel_comment = comment or self.cancel_comment
        self.cancel_at_period_end = False

    @transition(field=status, source=[S.TRIALING, S.PENDING], target=S.EXPIRED)
    def expire(self, *, at):
        self.ended_at = at
