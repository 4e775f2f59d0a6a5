"""What each customer is provisioned with: its access state, the entitlements it holds,
per-customer overrides, and the seats assigned to its users."""

from django.db import models
from django.db.models import Q

from catalog.models import Feature
from customers.models import Customer, CustomerUser


class AccessStatus(models.TextChoices):
    NONE = "none", "Not provisioned"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    DEPROVISIONED = "deprovisioned", "Deprovisioned"


class SuspendReason(models.TextChoices):
    """Why staff suspended an account (blank: suspended by billing, e.g. a held subscription)."""

    POLICY_VIOLATION = "policy_violation", "Policy violation"
    NON_PAYMENT = "non_payment", "Non-payment"
    FRAUD = "fraud", "Fraud"
    OTHER = "other", "Other"


class CustomerAccess(models.Model):
    """The customer's account on the business's service, as provisioning made it. `version`
    moves on every change, so cached access checks know they are stale."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="access")
    status = models.CharField(
        max_length=15, choices=AccessStatus.choices, default=AccessStatus.NONE
    )
    version = models.PositiveBigIntegerField(default=1)
    activated_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspend_reason = models.CharField(
        max_length=20,
        choices=SuspendReason.choices,
        blank=True,
        help_text="Why it is suspended (blank: by billing, e.g. a subscription on hold).",
    )
    suspend_comment = models.TextField(blank=True, max_length=2000)
    deprovision_at = models.DateTimeField(
        null=True, blank=True, help_text="When access ends (the grace period after a cancel)."
    )
    deprovisioned_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "customer access"
        indexes = [models.Index(fields=["status", "deprovision_at"])]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.status}"


class ProvisionedEntitlement(models.Model):
    """A feature the customer is provisioned with now (what the access check reads).
    `limit` null = unlimited; for boolean features only `enabled` counts."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="provisioned_entitlements"
    )
    feature = models.ForeignKey(Feature, on_delete=models.PROTECT, related_name="+")
    enabled = models.BooleanField(default=True)
    limit = models.BigIntegerField(null=True, blank=True)
    source = models.CharField(max_length=200, blank=True, help_text="Plans/add-ons/overrides.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["customer", "feature__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "feature"], name="provisioned_entitlement_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.feature_id}"


class OverrideKind(models.TextChoices):
    GRANT = "grant", "Grant (on, or this limit)"
    REVOKE = "revoke", "Revoke"
    LIMIT = "limit", "Set the limit"


class EntitlementOverride(models.Model):
    """A per-customer exception to what its plans grant, optionally until `expires_at`."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="entitlement_overrides"
    )
    feature = models.ForeignKey(Feature, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=OverrideKind.choices)
    limit = models.BigIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.CharField(max_length=200, default="system")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["customer", "feature__code", "-starts_at"]
        indexes = [models.Index(fields=["customer", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=models.F("starts_at")),
                name="override_expires_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.feature_id} for {self.customer_id}"


class SeatAssignment(models.Model):
    """A customer user holding one seat of a seats feature."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="seats")
    feature = models.ForeignKey(Feature, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(CustomerUser, on_delete=models.CASCADE, related_name="seats")
    assigned_at = models.DateTimeField()

    class Meta:
        ordering = ["customer", "feature", "assigned_at"]
        constraints = [
            models.UniqueConstraint(fields=["feature", "user"], name="seat_one_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.feature_id} seat of {self.user_id}"
