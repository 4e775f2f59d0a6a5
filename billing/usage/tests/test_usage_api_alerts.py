"""Usage API through a real DRF client: /usage-alerts/. The clock is frozen (the views read
it) at NOW."""

import pytest
import time_machine

from billing.models import BillingEvent, UsageAlert
from billing.tests import factories
from billing.usage.tests.usage_api_helpers import (
    ALERTS,
    BATCH,
    EVENTS,
    NOW,
    START,
    event,
    metrics_create,
    post,
    subscription_create,
)
from catalog.models import BillableMetric
from catalog.tests.factories import feature as feature_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def metrics(db) -> dict[str, BillableMetric]:
    return metrics_create()


@pytest.fixture
def sub(metrics):
    return subscription_create(metrics)


# --- /usage-alerts/ --------------------------------------------------------------------


def test_usage_alert_create_list_deactivate(api, sub):
    created = post(
        api, ALERTS, {"subscription": "sub-1", "metric": "calls", "threshold": "3", "name": "x"}
    )
    assert created.status_code == 201, created.json()
    alert = UsageAlert.objects.get()
    assert created.json() == {
        "id": alert.pk,
        "subscription": sub.pk,
        "metric": "calls",
        "kind": "absolute",
        "threshold": "3",
        "name": "x",
        "active": True,
        "last_fired_period_start": None,
        "created_at": "2027-01-20T12:00:00Z",
    }
    post(api, ALERTS, {"subscription": str(sub.pk), "metric": "tokens", "threshold": 2.5})
    listed = api.get(ALERTS).json()
    assert [(a["metric"], a["threshold"]) for a in listed["results"]] == [
        ("calls", "3"),
        ("tokens", "2.5"),
    ]
    assert listed["next_cursor"] is None
    assert api.get(f"{ALERTS}{alert.pk}/").json() == created.json()

    # Crossing the threshold fires it once for the period.
    post(api, BATCH, {"events": [event("a"), event("b")]})
    assert not BillingEvent.objects.filter(kind="usage.threshold_reached").exists()
    post(api, BATCH, {"events": [event("c"), event("d")]})
    post(api, EVENTS, event("e"))
    fired = BillingEvent.objects.get(kind="usage.threshold_reached")
    assert fired.subject_id == str(alert.pk)
    assert (fired.payload["value"], fired.payload["metric"]) == ("4", "calls")
    assert api.get(f"{ALERTS}{alert.pk}/").json()["last_fired_period_start"] == (
        "2027-01-15T00:00:00Z"
    )

    off = post(api, f"{ALERTS}{alert.pk}/deactivate/", {})
    assert off.status_code == 200
    assert off.json()["active"] is False
    assert api.get(f"{ALERTS}?active=false").json()["results"][0]["id"] == alert.pk
    assert [a["metric"] for a in api.get(f"{ALERTS}?active=true").json()["results"]] == ["tokens"]
    again = post(api, f"{ALERTS}{alert.pk}/deactivate/", {})
    assert again.json()["active"] is False
    assert BillingEvent.objects.filter(kind="usage_alert.deactivated").count() == 1


def test_quota_percent_alert_with_a_quota(api, metrics):
    quota = feature_create("api-quota", "quota", metric=metrics["calls"])
    plan = factories.plan("quota", "10", entitlements=[{"feature": quota, "value": 10}])
    factories.subscription(customer=factories.customer(), plan=plan, at=START, external_id="q")
    response = post(
        api,
        ALERTS,
        {"subscription": "q", "metric": "calls", "kind": "quota_percent", "threshold": 80},
    )
    assert response.status_code == 201, response.json()
    events = [{**event(f"e{i}"), "subscription": "q"} for i in range(8)]
    post(api, BATCH, {"events": events[:7]})
    assert not BillingEvent.objects.filter(kind="usage.threshold_reached").exists()
    post(api, BATCH, {"events": events[7:]})
    fired = BillingEvent.objects.get(kind="usage.threshold_reached")
    assert (fired.payload["quota"], fired.payload["value"]) == ("10", "8")


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"threshold": "0"}, "min_value", "threshold"),
        ({"threshold": "-5"}, "min_value", "threshold"),
        ({"kind": "quota_percent", "threshold": "80"}, "no_quota", "metric"),
        ({"metric": "nope"}, "does_not_exist", "metric"),
        ({"subscription": "nope"}, "does_not_exist", "subscription"),
        ({"kind": "relative"}, "invalid_choice", "kind"),
        ({"threshold": "many"}, "invalid", "threshold"),
        ({"colour": "blue"}, "unknown_field", "colour"),
    ],
)
def test_usage_alert_validation(api, sub, change, code, field):
    body = {"subscription": "sub-1", "metric": "calls", "threshold": "10", **change}
    response = post(api, ALERTS, body)
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["type"], error["code"], error["field"]) == ("invalid_request", code, field)
    assert not UsageAlert.objects.exists()


def test_duplicate_usage_alert_is_400(api, sub):
    body = {"subscription": "sub-1", "metric": "calls", "threshold": "10"}
    assert post(api, ALERTS, body).status_code == 201
    response = post(api, ALERTS, body)
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (
        "unique",
        "threshold",
    )
    assert UsageAlert.objects.count() == 1
