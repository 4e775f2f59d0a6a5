"""Usage alerts fire once per period, as `usage.threshold_reached` billing events."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.models import BillingEvent
from billing.tests import factories
from billing.usage.alerts import usage_alert_create, usage_alert_deactivate
from billing.usage.services import usage_events_ingest
from catalog.tests import factories as catalog

pytestmark = pytest.mark.django_db
AT = datetime(2027, 1, 1, tzinfo=UTC)


def fired():
    events = BillingEvent.objects.filter(kind="usage.threshold_reached").order_by("pk")
    return [(e.payload["period_start"], e.payload["value"]) for e in events]


@pytest.fixture
def sub():
    metric = catalog.metric("calls", "sum", "n")
    quota = catalog.feature("call_quota", kind="quota", metric=metric)
    plan = factories.plan(entitlements=[{"feature": quota, "value": 200}])
    return factories.subscription(customer=factories.customer(), plan=plan, at=AT)


def send(sub, prefix, values, at):
    events = [
        {
            "transaction_id": f"{prefix}{i}",
            "subscription": str(sub.pk),
            "code": "calls",
            "properties": {"n": v},
        }
        for i, v in enumerate(values)
    ]
    usage_events_ingest(events=events, at=at)


def test_absolute_threshold_fires_once_per_period(sub):
    metric = sub.plan.entitlements.get().feature.metric
    usage_alert_create(subscription=sub, metric=metric, threshold=Decimal(100), at=AT)
    send(sub, "a", [60], datetime(2027, 1, 5, tzinfo=UTC))
    assert fired() == []
    send(sub, "b", [40, 10], datetime(2027, 1, 6, tzinfo=UTC))
    send(sub, "c", [500], datetime(2027, 1, 7, tzinfo=UTC))
    assert fired() == [("2027-01-01T00:00:00Z", "110")]
    send(sub, "d", [150], datetime(2027, 2, 2, tzinfo=UTC))  # next period: fires again
    assert [row[0] for row in fired()] == ["2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"]


def test_quota_percent_threshold(sub):
    metric = sub.plan.entitlements.get().feature.metric
    usage_alert_create(
        subscription=sub, metric=metric, kind="quota_percent", threshold=Decimal(80), at=AT
    )
    send(sub, "a", [159], datetime(2027, 1, 5, tzinfo=UTC))
    assert fired() == []
    send(sub, "b", [1], datetime(2027, 1, 6, tzinfo=UTC))  # 160 = 80 % of 200
    assert fired() == [("2027-01-01T00:00:00Z", "160")]


def test_deactivated_alert_does_not_fire(sub):
    metric = sub.plan.entitlements.get().feature.metric
    alert = usage_alert_create(subscription=sub, metric=metric, threshold=Decimal(1), at=AT)
    usage_alert_deactivate(alert=alert, at=AT)
    send(sub, "a", [5], datetime(2027, 1, 5, tzinfo=UTC))
    assert fired() == []


def test_invalid_alerts_are_refused(sub):
    metric = sub.plan.entitlements.get().feature.metric
    other = catalog.metric("seats_used", "max", "n")
    cases = [
        ({"metric": metric, "threshold": Decimal(0)}, "threshold"),
        ({"metric": metric, "threshold": Decimal(5000), "kind": "quota_percent"}, "threshold"),
        ({"metric": other, "threshold": Decimal(50), "kind": "quota_percent"}, "metric"),
        ({"metric": metric, "threshold": Decimal(5), "kind": "weekly"}, "kind"),
    ]
    for kwargs, field in cases:
        with pytest.raises(ValidationError) as error:
            usage_alert_create(subscription=sub, at=AT, **kwargs)
        assert field in error.value.error_dict
    usage_alert_create(subscription=sub, metric=metric, threshold=Decimal(5), at=AT)
    with pytest.raises(ValidationError, match="exists"):
        usage_alert_create(subscription=sub, metric=metric, threshold=Decimal(5), at=AT)


def test_admin_adds_an_alert_through_the_service(admin_client, sub):
    from django.urls import reverse

    metric = sub.plan.entitlements.get().feature.metric
    url = reverse("admin:billing_usagealert_add")
    form = {"subscription": sub.pk, "metric": metric.pk, "kind": "quota_percent", "name": ""}
    response = admin_client.post(url, {**form, "threshold": "5000"})
    assert response.status_code == 200
    assert "at most 1000" in response.content.decode()
    response = admin_client.post(url, {**form, "threshold": "90"})
    assert response.status_code == 302
    assert BillingEvent.objects.filter(kind="usage_alert.created").count() == 1
    alert = sub.usage_alerts.get()
    assert (alert.kind, alert.threshold) == ("quota_percent", Decimal(90))
