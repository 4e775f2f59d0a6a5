"""Deleting old history: finished webhook deliveries (with their attempt log) and drift
audit runs (with their findings). The latest audit run always stays; deliveries still to
be tried are never touched. Deletes in batches, so no long lock is held."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from provisioning.models import DeliveryStatus, DriftAuditRun, WebhookDelivery

BATCH = 1000
FINISHED = (DeliveryStatus.SUCCEEDED, DeliveryStatus.GAVE_UP)


def _delete_in_batches(queryset: QuerySet) -> int:
    deleted = 0
    while ids := list(queryset.values_list("pk", flat=True)[:BATCH]):
        queryset.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    return deleted


def provisioning_history_prune(
    *, at: datetime, delivery_days: int | None = None, audit_days: int | None = None
) -> dict[str, int]:
    """Delete finished deliveries created more than `delivery_days` before `at`, and audit
    runs started more than `audit_days` before it (but the latest). Returns the counts."""
    delivery_days = delivery_days or settings.PROVISIONING_WEBHOOK_RETENTION_DAYS
    audit_days = audit_days or settings.PROVISIONING_AUDIT_RETENTION_DAYS
    deliveries = WebhookDelivery.objects.filter(
        status__in=FINISHED, created_at__lt=at - timedelta(days=delivery_days)
    )
    latest = DriftAuditRun.objects.order_by("-started_at", "-pk").values("pk")[:1]
    runs = DriftAuditRun.objects.filter(started_at__lt=at - timedelta(days=audit_days)).exclude(
        pk__in=latest
    )
    return {"deliveries": _delete_in_batches(deliveries), "audit_runs": _delete_in_batches(runs)}
