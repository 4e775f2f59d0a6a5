"""Drift audit: what provisioning holds against what billing says the customer pays for."""

from django.db import models

from customers.models import Customer


class DriftAuditRun(models.Model):
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    customers_checked = models.PositiveIntegerField(default=0)
    findings_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Drift audit #{self.pk} ({self.findings_count} findings)"


class DriftKind(models.TextChoices):
    ACCESS_WITHOUT_PAYMENT = "access_without_payment", "Access without a paid/trialing subscription"
    PAID_WITHOUT_ACCESS = "paid_without_access", "Paid subscription without access"
    ENTITLEMENT_MISMATCH = "entitlement_mismatch", "Entitlements differ from the plans"
    SEATS_OVER = "seats_over", "More seats assigned than purchased"
    KEYS_WHILE_SUSPENDED = "keys_while_suspended", "Usable API keys while suspended"


class DriftFinding(models.Model):
    run = models.ForeignKey(DriftAuditRun, on_delete=models.CASCADE, related_name="findings")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30, choices=DriftKind.choices)
    detail = models.CharField(max_length=500)
    repaired_at = models.DateTimeField(null=True, blank=True)
    repaired_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["run", "customer", "kind"]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.kind}"
