"""The sandbox gateway's own side: what a real gateway would keep on its servers.

The sandbox adapter writes here as a remote gateway would (one charge per idempotency key,
even when the reply to us is lost), so the janitor and reconciliation can ask it later.
"""

from django.db import models


class SandboxPaymentMethod(models.Model):
    reference = models.CharField(max_length=40, unique=True)
    test_token = models.CharField(max_length=60)
    customer_reference = models.CharField(max_length=60)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.reference


class SandboxCharge(models.Model):
    reference = models.CharField(max_length=40, unique=True)
    idempotency_key = models.CharField(max_length=100, unique=True)
    payment_method = models.CharField(max_length=40)
    amount = models.BigIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20)
    code = models.CharField(max_length=60, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    amount_refunded = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.reference} {self.status}"


class SandboxRefund(models.Model):
    reference = models.CharField(max_length=40, unique=True)
    idempotency_key = models.CharField(max_length=100, unique=True)
    charge = models.ForeignKey(SandboxCharge, on_delete=models.CASCADE, related_name="refunds")
    amount = models.BigIntegerField(help_text="Minor units.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.reference
