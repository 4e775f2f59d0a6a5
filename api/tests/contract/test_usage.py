"""API.md § Usage over HTTP: single events, duplicates, batches."""

from datetime import UTC, datetime, timedelta

import pytest

from api.tests.contract import helpers as h
from api.tests.contract.helpers import assert_error


@pytest.fixture
def sub(api):
    h.metric(api, "calls")
    h.metric(api, "gb", "sum", "gb")
    charges = [
        {"metric": "calls", "model": "standard", "properties": {"unit_amount": "0.10"}},
        {"metric": "gb", "model": "standard", "properties": {"unit_amount": "1.00"}},
    ]
    h.plan(api, "metered", amount="0", charges=charges)
    h.customer(api, "acme")
    start = datetime.now(UTC) - timedelta(hours=1)
    return h.subscribe(api, "acme", "metered", external_id="acme-sub", start_at=h.iso(start))


def at(minutes: int = 0) -> str:
    return h.iso(datetime.now(UTC) - timedelta(minutes=30 - minutes))


def value_of(api, metric: str) -> str:
    usage = api.ok("GET", "subscriptions/acme-sub/usage/")
    return next(c["value"] for c in usage["charges"] if c["metric"] == metric)


def test_an_event_is_201_and_a_repeat_is_200_with_the_stored_event(api, sub):
    """ "`POST /events/` `{transaction_id, subscription, code, timestamp, properties}` → 201,
    or 200 with the stored event when that `transaction_id` was already received (never
    counted twice)"."""
    body = {
        "transaction_id": "tx-1",
        "subscription": sub["id"],
        "code": "gb",
        "timestamp": at(),
        "properties": {"gb": 3},
    }
    first = api.post("events/", body)
    assert first.status_code == 201, first.text
    assert (first.json()["transaction_id"], first.json()["code"]) == ("tx-1", "gb")
    again = api.post("events/", body)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert value_of(api, "gb") == "3"


def test_the_subscription_is_named_by_id_or_external_id(api, sub):
    """ "`subscription: "<id or external_id>"`"."""
    h.event(api, sub["id"], "calls", at())
    h.event(api, "acme-sub", "calls", at(1))
    assert value_of(api, "calls") == "2"


def test_an_unknown_metric_is_400(api, sub):
    """ "`code: "<metric>"`": a code that names no metric is refused, naming the field."""
    body = {"transaction_id": "t", "subscription": "acme-sub", "code": "nope", "timestamp": at()}
    assert_error(api.post("events/", body), 400, "invalid_request", "code")


def test_a_batch_answers_per_event_and_one_bad_event_rejects_only_itself(api, sub):
    """ "`POST /events/batch/` `{events: [... up to 1000]}` → per-event result" — one bad event
    (unknown metric, a timestamp at the end of time) is that event's rejection only, and a
    repeat is reported as a duplicate."""
    good = {"subscription": "acme-sub", "code": "calls", "timestamp": at()}
    events = [
        {**good, "transaction_id": "b-1"},
        {**good, "transaction_id": "b-2", "code": "nope"},
        {**good, "transaction_id": "b-3", "timestamp": "9999-12-31T23:59:59-12:00"},
        {**good, "transaction_id": "b-4"},
        {**good, "transaction_id": "b-1"},
    ]
    body = api.ok("POST", "events/batch/", {"events": events})
    assert [r["status"] for r in body["results"]] == [
        "created",
        "rejected",
        "rejected",
        "created",
        "duplicate",
    ]
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3, 4]
    assert (body["created"], body["duplicates"], body["rejected"]) == (2, 1, 2)
    assert body["results"][1]["error"]["field"] == "code"
    assert body["results"][2]["error"]["field"] == "timestamp"
    assert value_of(api, "calls") == "2"


def test_a_batch_takes_up_to_1000_events(api, sub):
    """ "`{events: [... up to 1000]}`": 1000 pass, 1001 is refused whole."""
    events = [
        {"transaction_id": f"k-{n}", "subscription": "acme-sub", "code": "calls", "timestamp": at()}
        for n in range(1001)
    ]
    assert_error(api.post("events/batch/", {"events": events}), 400, "invalid_request", "events")
    assert value_of(api, "calls") == "0"
    body = api.ok("POST", "events/batch/", {"events": events[:1000]})
    assert body["created"] == 1000
    assert value_of(api, "calls") == "1000"


def test_a_body_over_the_size_limit_is_413_in_the_error_format(api, sub):
    """Errors come in the one error format: a body over the size limit answers 413 there
    (issue 13 §1), never 500."""
    padding = "x" * 1000
    events = [
        {
            "transaction_id": f"p-{n}",
            "subscription": "acme-sub",
            "code": "calls",
            "timestamp": at(),
            "properties": {"pad": padding},
        }
        for n in range(3000)
    ]
    response = api.post("events/batch/", {"events": events})
    assert_error(response, 413, "invalid_request")
