"""The billing event log: append-only, written in the transaction of the change it describes."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from customers.models import Customer


class AppendOnlyError(Exception):
    pass


class BillingEvent(models.Model):
    """One thing that happened in billing (`invoice.paid`, `subscription.canceled`, …).

    Its id is the order consumers (provisioning, webhooks, audit) read the log in.
    """

    kind = models.CharField(max_length=64, db_index=True)
    occurred_at = models.DateTimeField(help_text="When it took effect (the service's `at`).")
    recorded_at = models.DateTimeField(auto_now_add=True)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="billing_events"
    )
    subject_type = models.CharField(max_length=100, help_text="app_label.model of the subject.")
    subject_id = models.CharField(max_length=64)
    actor = models.CharField(max_length=200, default="system", help_text="Who caused it.")
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    dedupe_key = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="Set for events that may happen only once (e.g. a threshold per period).",
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"]),
            models.Index(fields=["customer", "id"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.subject_type}:{self.subject_id}"

    def save(self, *args, **kwargs):
        # Integrity guard, not business logic: the log is never rewritten.
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("Billing events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Billing events are append-only.")
