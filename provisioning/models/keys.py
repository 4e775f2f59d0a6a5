"""API keys the customer uses against the business's own service (not our admin keys)."""

from django.db import models

from customers.models import Customer


class ServiceKey(models.Model):
    """Only the SHA-256 of the key is stored; the key is shown once. A rotated key keeps
    working until `expires_at` (the overlap).

    A key issued by provisioning is `unrevealed`: its stored hash is of a secret nobody was
    shown, so it cannot be used until its owner reveals it in the portal, once, which gives
    it a new secret (`revealed_at`)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="service_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    rotated_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotated_to"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    unrevealed = models.BooleanField(
        default=False,
        help_text="Issued by provisioning and not yet revealed by its owner: it cannot be used.",
    )
    revealed_at = models.DateTimeField(
        null=True, blank=True, help_text="When its owner revealed it in the portal (once)."
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["customer", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
