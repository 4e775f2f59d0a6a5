"""Usage API through a real DRF client: /events/, /events/batch/ and who may call them.
The clock is frozen (the views read it) at NOW."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from billing.models import UsageAggregate, UsageEvent, UsageEventKey
from billing.usage.services import MAX_BATCH
from billing.usage.tests.usage_api_helpers import (
    ALERTS,
    BATCH,
    ERROR_KEYS,
    EVENTS,
    NOW,
    count,
    event,
    metrics_create,
    post,
    subscription_create,
)
from catalog.models import BillableMetric

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
