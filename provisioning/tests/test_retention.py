"""Old finished webhook deliveries and old drift audit runs are deleted; nothing else."""

from datetime import UTC, datetime, timedelta

import pytest

from billing.models import BillingEvent
from billing.tests import factories
from provisioning.models import (
    DeliveryAttempt,
    DeliveryStatus,
    DriftAuditRun,
    DriftFinding,
    WebhookDelivery,
)
from provisioning.services import retention, webhooks

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_prune_deletes_only_old_finished_deliveries_and_old_runs_but_the_latest(monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 2)  # several batches
    customer = factories.customer()
    hook = webhooks.webhook_endpoint_create(url="https://example.com/h", events=[], at=NOW)[0]
    ages = {
        "old_ok": (40, DeliveryStatus.SUCCEEDED),
        "old_gave_up": (40, DeliveryStatus.GAVE_UP),
        "old_ok_2": (31, DeliveryStatus.SUCCEEDED),
        "old_retrying": (40, DeliveryStatus.FAILED),
        "old_pending": (40, DeliveryStatus.PENDING),
        "recent_ok": (29, DeliveryStatus.SUCCEEDED),
    }
    made = {}
    for name, (days, status) in ages.items():
        at = NOW - timedelta(days=days)
        event = BillingEvent.objects.create(
            kind="invoice.paid", occurred_at=at, customer=customer, subject_id=name
        )
        made[name] = WebhookDelivery.objects.create(
            endpoint=hook, event=event, status=status, created_at=at
        )
        DeliveryAttempt.objects.create(delivery=made[name], at=at, response_code=200)
    runs = [
        DriftAuditRun.objects.create(started_at=NOW - timedelta(days=days)) for days in (200, 100)
    ]
    DriftFinding.objects.create(run=runs[0], customer=customer, kind="seats_over", detail="x")
    recent = DriftAuditRun.objects.create(started_at=NOW - timedelta(days=1))

    assert retention.provisioning_history_prune(at=NOW) == {"deliveries": 3, "audit_runs": 2}
    left = set(WebhookDelivery.objects.values_list("event__subject_id", flat=True))
    assert left == {"old_retrying", "old_pending", "recent_ok"}
    assert DeliveryAttempt.objects.count() == 3
    assert list(DriftAuditRun.objects.all()) == [recent]
    assert not DriftFinding.objects.exists()
    assert retention.provisioning_history_prune(at=NOW) == {"deliveries": 0, "audit_runs": 0}


def test_the_latest_audit_run_stays_however_old():
    only = DriftAuditRun.objects.create(started_at=NOW - timedelta(days=400))
    assert retention.provisioning_history_prune(at=NOW)["audit_runs"] == 0
    assert list(DriftAuditRun.objects.all()) == [only]
