"""Usage API through a real DRF client: /events/, /events/batch/, a subscription's usage,
/usage-alerts/. The clock is frozen (the views read it) at NOW."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from billing.models import (
    BillingEvent,
    UsageAggregate,
    UsageAlert,
    UsageEvent,
    UsageEventKey,
)
from billing.services.usage import MAX_BATCH
from billing.tests import factories
from catalog.models import BillableMetric
from catalog.tests.factories import feature as feature_create
from catalog.tests.factories import metric as metric_create

pytestmark = pytest.mark.django_db

START = datetime(2027, 1, 15, tzinfo=UTC)
NOW = datetime(2027, 1, 20, 12, tzinfo=UTC)
EVENTS = "/api/v1/events/"
BATCH = "/api/v1/events/batch/"
ALERTS = "/api/v1/usage-alerts/"
ERROR_KEYS = {"type", "code", "message", "field"}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def metrics(db) -> dict[str, BillableMetric]:
    return {
        "calls": metric_create("calls", "count"),
        "tokens": metric_create("tokens", "sum", "tokens"),
        "peak": metric_create("peak", "max", "gb"),
        "users": metric_create("users", "unique_count", "user"),
        "payments": metric_create("payments", "sum", "amount"),
        "seats": metric_create("seats", "latest", "seats"),
    }


def charges(metrics, **properties) -> list[dict]:
    """One charge per pricing model (properties may be replaced by model name)."""
    default = {
        "standard": {"unit_amount": "0.05"},
        "graduated": {
            "tiers": [
                {"up_to": 100, "unit_amount": "0.01"},
                {"up_to": None, "unit_amount": "0.005", "flat_amount": "1"},
            ]
        },
        "volume": {
            "tiers": [
                {"up_to": 10, "unit_amount": "2"},
                {"up_to": None, "unit_amount": "1.5", "flat_amount": "3"},
            ]
        },
        "package": {"package_size": 5, "amount": "10", "free_units": 2},
        "percentage": {"rate": "1.5", "fixed_amount": "0.1"},
    }
    default.update(properties)
    metric_of = {
        "standard": "calls",
        "graduated": "tokens",
        "volume": "peak",
        "package": "users",
        "percentage": "payments",
    }
    return [
        {"metric": metrics[metric_of[model]], "model": model, "properties": default[model]}
        for model in metric_of
    ]


@pytest.fixture
def sub(metrics):
    customer = factories.customer()
    plan = factories.plan("pro", "30.00", charges=charges(metrics))
    return factories.subscription(customer=customer, plan=plan, at=START, external_id="sub-1")


def post(client, url: str, body, **headers):
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def event(tx: str, code: str = "calls", **extra) -> dict:
    body = {
        "transaction_id": tx,
        "subscription": "sub-1",
        "code": code,
        "timestamp": "2027-01-20T10:00:00Z",
    }
    return {**body, **extra}


def count(code: str) -> int:
    agg = UsageAggregate.objects.filter(metric__code=code).first()
    return agg.event_count if agg else 0


# --- POST /events/ ---------------------------------------------------------------------


def test_event_is_201_then_200_with_the_stored_event(api, sub):
    body = event("tx-1", "tokens", properties={"tokens": "2.5", "model": "large", "n": 3})
    first = post(api, EVENTS, body)
    assert first.status_code == 201, first.json()
    stored = UsageEvent.objects.get()
    assert first.json() == {
        "id": stored.pk,
        "transaction_id": "tx-1",
        "subscription": sub.pk,
        "code": "tokens",
        "timestamp": "2027-01-20T10:00:00Z",
        "properties": {"tokens": "2.5", "model": "large", "n": 3},
        "value": "2.5",
        "period_start": "2027-01-15T00:00:00Z",
        "period_end": "2027-02-15T00:00:00Z",
        "received_at": "2027-01-20T12:00:00Z",
    }

    with time_machine.travel(datetime(2027, 1, 21, tzinfo=UTC), tick=False):
        again = post(api, EVENTS, {**body, "properties": {"tokens": 1000}})
    assert again.status_code == 200, again.json()
    assert again.json() == first.json()
    agg = UsageAggregate.objects.get()
    assert (agg.event_count, agg.value_sum, agg.version) == (1, Decimal("2.5"), 1)
    assert UsageEvent.objects.count() == 1
    assert UsageEventKey.objects.count() == 1


def test_event_by_subscription_id_and_default_timestamp(api, sub):
    response = post(api, EVENTS, {"transaction_id": "tx", "subscription": sub.pk, "code": "calls"})
    assert response.status_code == 201, response.json()
    assert response.json()["timestamp"] == "2027-01-20T12:00:00Z"
    assert response.json()["value"] is None
    assert count("calls") == 1


def test_event_unix_seconds(api, sub):
    response = post(api, EVENTS, event("tx", timestamp=1800000000.5))
    assert response.status_code == 201, response.json()
    assert response.json()["timestamp"] == "2027-01-15T08:00:00.500000Z"


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"code": "nope"}, "unknown_metric", "code"),
        ({"subscription": "nope"}, "unknown_subscription", "subscription"),
        ({"subscription": "987654"}, "unknown_subscription", "subscription"),
        ({"code": "tokens", "properties": {"tokens": -3}}, "negative_value", "properties.tokens"),
        ({"code": "tokens", "properties": {"tokens": "abc"}}, "invalid_value", "properties.tokens"),
        ({"code": "tokens", "properties": {}}, "missing_property", "properties.tokens"),
        (
            {"code": "tokens", "properties": {"tokens": 0.0000000000001}},
            "too_many_decimal_places",
            "properties.tokens",
        ),
        ({"timestamp": "2027-01-20T10:00:00"}, "timezone_required", "timestamp"),
        ({"timestamp": "2027-01-20T12:05:01Z"}, "timestamp_in_future", "timestamp"),
        ({"timestamp": "2027-01-14T23:00:00Z"}, "before_subscription_start", "timestamp"),
        ({"colour": "blue"}, "unknown_field", "colour"),
        ({"transaction_id": ""}, "required", "transaction_id"),
    ],
)
def test_bad_event_is_400_with_the_error_body(api, sub, change, code, field):
    response = post(api, EVENTS, {**event("bad"), **change})
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert set(error) == ERROR_KEYS
    assert (error["type"], error["code"], error["field"]) == ("invalid_request", code, field)
    assert isinstance(error["message"], str)
    assert error["message"]
    assert not UsageEventKey.objects.exists()
    assert not UsageAggregate.objects.exists()


def test_event_that_is_not_an_object_is_400(api, sub):
    response = post(api, EVENTS, [event("a")])
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "type": "invalid_request",
            "code": "invalid_type",
            "message": "An event must be a JSON object.",
            "field": None,
        }
    }


def test_rejected_event_can_be_sent_again_corrected(api, sub):
    bad = post(api, EVENTS, event("tx", "tokens", properties={"tokens": "x"}))
    assert bad.status_code == 400
    good = post(api, EVENTS, event("tx", "tokens", properties={"tokens": "4"}))
    assert good.status_code == 201, good.json()
    assert good.json()["value"] == "4"


def test_malformed_json_is_400(api, sub):
    response = api.post(EVENTS, data="{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"


# --- POST /events/batch/ ---------------------------------------------------------------


def test_batch_results_and_counts(api, sub):
    assert post(api, EVENTS, event("old")).status_code == 201
    events = [
        event("a"),
        event("b", code="nope"),
        event("a"),  # twice in this batch
        event("old"),  # received before
        event("c", "tokens", properties={"tokens": "1.25"}),
        "not an event",
        event("d", "tokens", properties={"tokens": -1}),
    ]
    response = post(api, BATCH, {"events": events})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (2, 2, 3)
    summary = [
        (
            r["index"],
            r["transaction_id"],
            r["status"],
            r.get("late"),
            r.get("error", {}).get("code"),
        )
        for r in body["results"]
    ]
    assert summary == [
        (0, "a", "created", False, None),
        (1, "b", "rejected", None, "unknown_metric"),
        (2, "a", "duplicate", None, None),
        (3, "old", "duplicate", None, None),
        (4, "c", "created", False, None),
        (5, None, "rejected", None, "invalid_type"),
        (6, "d", "rejected", None, "negative_value"),
    ]
    errors = {r["index"]: r["error"] for r in body["results"] if "error" in r}
    assert all(set(error) == ERROR_KEYS for error in errors.values())
    assert (errors[1]["type"], errors[1]["field"]) == ("invalid_request", "code")
    assert errors[5]["field"] is None
    assert errors[6]["field"] == "properties.tokens"
    assert (count("calls"), count("tokens")) == (2, 1)
    assert sorted(UsageEvent.objects.values_list("transaction_id", flat=True)) == ["a", "c", "old"]


def test_empty_batch(api, sub):
    response = post(api, BATCH, {"events": []})
    assert response.status_code == 200
    assert response.json() == {"created": 0, "duplicates": 0, "rejected": 0, "results": []}


def test_full_batch_is_accepted(api, sub):
    events = [event(f"e{i}") for i in range(MAX_BATCH)]
    response = post(api, BATCH, {"events": events})
    assert response.status_code == 200
    assert response.json()["created"] == MAX_BATCH
    assert count("calls") == MAX_BATCH


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ([{"transaction_id": "a"}], "invalid", "events"),
        ("events", "invalid", "events"),
        ({}, "invalid", "events"),
        ({"events": {"a": 1}}, "invalid", "events"),
        ({"events": "a"}, "invalid", "events"),
        ({"events": [], "dry_run": True}, "unknown_field", "dry_run"),
        ({"events": [event(f"e{i}") for i in range(MAX_BATCH + 1)]}, "too_many", "events"),
    ],
)
def test_batch_envelope_errors(api, sub, body, code, field):
    response = post(api, BATCH, body)
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert set(error) == ERROR_KEYS
    assert (error["type"], error["code"], error["field"]) == ("invalid_request", code, field)
    assert not UsageEventKey.objects.exists()


def test_idempotency_key_replays_the_batch_response(api, sub):
    body = {"events": [event("a"), event("b"), event("a")]}
    first = post(api, BATCH, body, HTTP_IDEMPOTENCY_KEY="batch-1")
    assert first.status_code == 200
    assert (first.json()["created"], first.json()["duplicates"]) == (2, 1)

    replay = post(api, BATCH, body, HTTP_IDEMPOTENCY_KEY="batch-1")
    assert replay.status_code == 200
    assert replay.json() == first.json()  # "created" again: the first response, replayed
    assert replay["Idempotent-Replayed"] == "true"
    assert count("calls") == 2

    other = post(api, BATCH, {"events": [event("c")]}, HTTP_IDEMPOTENCY_KEY="batch-1")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert not UsageEventKey.objects.filter(pk="c").exists()

    # Without the key, the same body is received again: all duplicates, nothing counted.
    fresh = post(api, BATCH, body)
    assert (fresh.json()["created"], fresh.json()["duplicates"]) == (0, 3)
    assert count("calls") == 2


# --- Auth ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [EVENTS, BATCH, ALERTS])
def test_read_only_key_cannot_post(read_only_api, sub, url):
    body = {"events": [event("a")]} if url == BATCH else event("a")
    response = post(read_only_api, url, body)
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission"
    assert not UsageEventKey.objects.exists()


def test_read_only_key_reads_usage(read_only_api, sub):
    assert read_only_api.get(f"/api/v1/subscriptions/{sub.pk}/usage/").status_code == 200
    assert read_only_api.get(ALERTS).status_code == 200


@pytest.mark.parametrize("url", [EVENTS, BATCH])
def test_no_key_is_401(client, sub, url):
    response = post(client, url, {"events": [event("a")]} if url == BATCH else event("a"))
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication"
    assert response["WWW-Authenticate"] == "Bearer"
    assert not UsageEventKey.objects.exists()


def test_no_key_cannot_read_usage(client, sub):
    assert client.get("/api/v1/subscriptions/sub-1/usage/").status_code == 401


# --- GET /subscriptions/{id}/usage/ ----------------------------------------------------


def usage_events() -> list[dict]:
    return [
        *(event(f"call-{i}") for i in range(7)),
        event("tok-1", "tokens", properties={"tokens": 200}),
        event("tok-2", "tokens", properties={"tokens": "50.5"}),
        event("gb-1", "peak", properties={"gb": 12.5}),
        event("gb-2", "peak", properties={"gb": 3}),
        *(event(f"user-{i}", "users", properties={"user": f"u{i % 8}"}) for i in range(11)),
        event("pay-1", "payments", properties={"amount": "100"}),
        event("pay-2", "payments", properties={"amount": "33.33"}),
        event("seat-1", "seats", properties={"seats": 4}),  # a metric without a charge
    ]


def test_usage_per_charge_model_in_usd(api, sub):
    response = post(api, BATCH, {"events": usage_events()})
    assert response.json()["created"] == 25, response.json()

    usage = api.get(f"/api/v1/subscriptions/{sub.pk}/usage/")
    assert usage.status_code == 200
    body = usage.json()
    assert body == {
        "period_start": "2027-01-15T00:00:00Z",
        "period_end": "2027-02-15T00:00:00Z",
        "currency": "USD",
        "charges": [
            # 7 × 0.05
            {"metric": "calls", "model": "standard", "value": "7", "amount": "0.35"},
            # 100 × 0.01 + 150.5 × 0.005 + 1 = 2.7525
            {"metric": "tokens", "model": "graduated", "value": "250.5", "amount": "2.75"},
            # the whole 12.5 in the second tier: 12.5 × 1.5 + 3
            {"metric": "peak", "model": "volume", "value": "12.5", "amount": "21.75"},
            # 8 users, 2 free, 6 → 2 packages of 5 × 10
            {"metric": "users", "model": "package", "value": "8", "amount": "20.00"},
            # (100 × 1.5% + 0.10) + (33.33 × 1.5% + 0.10) = 1.6 + 0.59995
            {"metric": "payments", "model": "percentage", "value": "133.33", "amount": "2.20"},
        ],
        "metrics": [
            {"metric": "calls", "aggregation": "count", "value": "7"},
            {"metric": "payments", "aggregation": "sum", "value": "133.33"},
            {"metric": "peak", "aggregation": "max", "value": "12.5"},
            {"metric": "seats", "aggregation": "latest", "value": "4"},
            {"metric": "tokens", "aggregation": "sum", "value": "250.5"},
            {"metric": "users", "aggregation": "unique_count", "value": "8"},
        ],
        "total": "47.05",
    }
    assert api.get("/api/v1/subscriptions/sub-1/usage/").json() == body


def test_usage_without_events_is_zero(api, sub):
    body = api.get("/api/v1/subscriptions/sub-1/usage/").json()
    assert [(c["value"], c["amount"]) for c in body["charges"]] == [("0", "0.00")] * 5
    assert (body["metrics"], body["total"]) == ([], "0.00")


def test_usage_of_unknown_subscription_is_404(api, sub):
    response = api.get("/api/v1/subscriptions/nope/usage/")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_usage_in_jpy_has_no_decimals(api, metrics):
    customer = factories.customer("tanaka", currency="JPY", timezone="Asia/Tokyo")
    plan = factories.plan(
        "pro-jp",
        "3000",
        currency="JPY",
        charges=charges(
            metrics,
            standard={"unit_amount": "1.5"},
            graduated={
                "tiers": [
                    {"up_to": 100, "unit_amount": "0.3"},
                    {"up_to": None, "unit_amount": "0.25", "flat_amount": "10"},
                ]
            },
            volume={
                "tiers": [
                    {"up_to": 10, "unit_amount": "200"},
                    {"up_to": None, "unit_amount": "150", "flat_amount": "300"},
                ]
            },
            package={"package_size": 5, "amount": "1000", "free_units": 2},
            percentage={"rate": "3.6", "fixed_amount": "10", "per_event_min": "12"},
        ),
    )
    sub = factories.subscription(customer=customer, plan=plan, at=START, external_id="sub-1")
    response = post(api, BATCH, {"events": usage_events()})
    assert response.json()["created"] == 25, response.json()
    body = api.get("/api/v1/subscriptions/sub-1/usage/").json()
    # Asia/Tokyo: the period runs from local midnight (15:00Z the day before).
    assert (body["period_start"], body["period_end"], body["currency"]) == (
        "2027-01-14T15:00:00Z",
        "2027-02-14T15:00:00Z",
        "JPY",
    )
    assert [(c["metric"], c["value"], c["amount"]) for c in body["charges"]] == [
        ("calls", "7", "11"),  # 7 × 1.5 = 10.5, half up
        ("tokens", "250.5", "78"),  # 100 × 0.3 + 150.5 × 0.25 + 10 = 77.625
        ("peak", "12.5", "2175"),  # 12.5 × 150 + 300
        ("users", "8", "2000"),  # 2 packages
        ("payments", "133.33", "26"),  # 100 → 13.6; 33.33 → 11.19988, raised to 12
    ]
    assert body["total"] == "4290"  # the sum of the rounded amounts
    assert sub.currency == "JPY"


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


# --- Bugs found while writing these tests, fixed ------------------------------------------


def test_201_and_200_bodies_agree_on_decimal_properties(api, sub):
    body = event("tx-1", "tokens", properties={"tokens": 2.5, "price": 0.1})
    first = post(api, EVENTS, body)
    assert first.status_code == 201, first.json()
    again = post(api, EVENTS, body)
    assert again.status_code == 200
    assert first.json() == again.json()


def test_batch_with_out_of_range_decimals_rejects_only_those(api, sub):
    events = [
        event("big", "tokens", properties={"tokens": "99999999999999999.0000000000001"}),
        event("huge", "users", properties={"user": Decimal("1E+1000000")}),
        event("ok"),
    ]
    body = json.dumps({"events": events}, default=str).replace('"1E+1000000"', "1e1000000")
    response = api.post(BATCH, data=body, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert [r["status"] for r in response.json()["results"]] == [
        "rejected",
        "rejected",
        "created",
    ]


def test_retry_after_cancel_is_200_with_the_stored_event(api, sub):
    body = {"transaction_id": "tx", "subscription": "sub-1", "code": "calls"}
    first = post(api, EVENTS, body)
    assert first.status_code == 201
    cancel = post(api, "/api/v1/subscriptions/sub-1/cancel/", {"when": "immediately"})
    assert cancel.status_code == 200, cancel.json()
    with time_machine.travel(datetime(2027, 1, 20, 13, tzinfo=UTC), tick=False):
        again = post(api, EVENTS, body)
    assert again.status_code == 200, again.json()
    assert again.json() == first.json()


def test_usage_in_a_trial_is_priced_at_zero(api, metrics):
    plan = factories.plan("trial", "30.00", trial_days=14, charges=charges(metrics))
    factories.subscription(customer=factories.customer(), plan=plan, at=START, external_id="sub-1")
    post(api, BATCH, {"events": [event(f"c{i}") for i in range(10)]})
    body = api.get("/api/v1/subscriptions/sub-1/usage/").json()
    assert (body["period_start"], body["period_end"]) == (
        "2027-01-15T00:00:00Z",
        "2027-01-29T00:00:00Z",
    )
    assert body["metrics"] == [{"metric": "calls", "aggregation": "count", "value": "10"}]
    assert body["charges"][0]["value"] == "10"
    assert [c["amount"] for c in body["charges"]] == ["0.00"] * 5
    assert body["total"] == "0.00"
