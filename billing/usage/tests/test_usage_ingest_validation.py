"""Usage ingestion (billing.usage.services.usage_events_ingest): per-event checks, timestamps
and the period each event is counted in.

Every call passes a fixed `at` (the time the events were received); nothing reads the clock.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings

from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import SubscriptionStatus, UsageAggregate, UsageEvent, UsageEventKey
from billing.tests import factories
from billing.usage.services import MAX_BATCH, usage_events_ingest
from billing.usage.tests.usage_ingest_helpers import (
    AT,
    JAN,
    START,
    aggregate,
    event,
    ingest,
    metrics_create,
    statuses,
    subscription_create,
    t,
)
from catalog.models import BillableMetric

pytestmark = pytest.mark.django_db


@pytest.fixture
def metrics(db) -> dict[str, BillableMetric]:
    return metrics_create()


@pytest.fixture
def sub(metrics):
    return subscription_create()


# --- Per-event errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "code", "field"),
    [
        pytest.param(
            {"subscription": "987654"}, "unknown_subscription", "subscription", id="sub-id"
        ),
        pytest.param(
            {"subscription": "nope"}, "unknown_subscription", "subscription", id="sub-ext"
        ),
        pytest.param({"code": "nope"}, "unknown_metric", "code", id="unknown-metric"),
        pytest.param({"code": "tokens"}, "missing_property", "properties.tokens", id="missing"),
        pytest.param(
            {"code": "tokens", "properties": {"tokens": None}},
            "missing_property",
            "properties.tokens",
            id="null-property",
        ),
        pytest.param(
            {"code": "tokens", "properties": {"tokens": "many"}},
            "invalid_value",
            "properties.tokens",
            id="sum-not-numeric",
        ),
        pytest.param(
            {"code": "peak", "properties": {"gb": "1e3"}},
            "invalid_value",
            "properties.gb",
            id="max-exponent",
        ),
        pytest.param(
            {"code": "peak", "properties": {"gb": True}},
            "invalid_value",
            "properties.gb",
            id="max-bool",
        ),
        pytest.param(
            {"code": "tokens", "properties": {"tokens": -1}},
            "negative_value",
            "properties.tokens",
            id="negative",
        ),
        pytest.param(
            {"code": "tokens", "properties": {"tokens": "-0.5"}},
            "negative_value",
            "properties.tokens",
            id="negative-string",
        ),
        pytest.param(
            {"code": "tokens", "properties": {"tokens": "0.0000000000001"}},
            "too_many_decimal_places",
            "properties.tokens",
            id="13-places",
        ),
        pytest.param(
            {"code": "tokens", "properties": {"tokens": 10**18}},
            "out_of_range",
            "properties.tokens",
            id="too-big",
        ),
        pytest.param(
            {"code": "users", "properties": {"user": {"id": 1}}},
            "invalid_value",
            "properties.user",
            id="unique-object",
        ),
        pytest.param(
            {"timestamp": "2027-01-20T10:00:00"}, "timezone_required", "timestamp", id="naive"
        ),
        pytest.param({"timestamp": "yesterday"}, "invalid_timestamp", "timestamp", id="garbage"),
        pytest.param({"timestamp": 10.5}, "invalid_timestamp", "timestamp", id="float"),
        pytest.param(
            {"timestamp": "2027-01-14T23:59:59.999999Z"},
            "before_subscription_start",
            "timestamp",
            id="before-start",
        ),
        pytest.param({"colour": "blue"}, "unknown_field", "colour", id="unknown-field"),
        pytest.param({"transaction_id": "  "}, "required", "transaction_id", id="blank-tx"),
        pytest.param({"transaction_id": "x" * 256}, "too_long", "transaction_id", id="long-tx"),
        pytest.param({"subscription": None}, "required", "subscription", id="no-subscription"),
        pytest.param({"properties": ["a"]}, "invalid_type", "properties", id="properties-list"),
    ],
)
def test_bad_event_is_rejected_alone(sub, bad, code, field):
    results = ingest(event("ok-1"), {**event("bad"), **bad}, event("ok-2"))
    assert statuses(results) == ["created", "rejected", "created"]
    error = results[1].error
    assert (error.code, error.field) == (code, field)
    assert error.as_dict() == {
        "type": "invalid_request",
        "code": code,
        "message": error.message,
        "field": field,
    }
    assert error.message
    assert results[1].event is None
    assert aggregate("calls").event_count == 2
    assert sorted(UsageEvent.objects.values_list("transaction_id", flat=True)) == ["ok-1", "ok-2"]
    assert not UsageEventKey.objects.exclude(transaction_id__in=["ok-1", "ok-2"]).exists()


def test_archived_metric_is_rejected(sub, metrics):
    BillableMetric.objects.filter(pk=metrics["peak"].pk).update(archived_at=t(2027, 1, 1))
    results = ingest(event("a", "peak", properties={"gb": 1}), event("b"))
    assert statuses(results) == ["rejected", "created"]
    assert (results[0].error.code, results[0].error.field) == ("metric_archived", "code")
    assert not UsageAggregate.objects.filter(metric=metrics["peak"]).exists()


@pytest.mark.parametrize("raw", ["hello", ["a"], None, 7])
def test_not_an_object_is_rejected(sub, raw):
    results = ingest(raw, event("ok"))
    assert statuses(results) == ["rejected", "created"]
    assert results[0].transaction_id is None
    assert (results[0].error.code, results[0].error.field) == ("invalid_type", None)


def test_rejected_event_keeps_its_transaction_id_in_the_result(sub):
    results = ingest(event("bad", colour="blue"), event("bad2", code="nope"))
    assert [r.transaction_id for r in results] == ["bad", "bad2"]
    assert not UsageAggregate.objects.exists()
    assert not UsageEventKey.objects.exists()


def test_future_tolerance_boundary(sub):
    tolerance = settings.USAGE_FUTURE_TOLERANCE_SECONDS
    limit = AT + timedelta(seconds=tolerance)
    results = ingest(
        event("at-limit", ts=limit.isoformat()),
        event("past-limit", ts=(limit + timedelta(microseconds=1)).isoformat()),
    )
    assert statuses(results) == ["created", "rejected"]
    assert (results[1].error.code, results[1].error.field) == ("timestamp_in_future", "timestamp")


def test_future_tolerance_follows_the_setting(sub, settings):
    settings.USAGE_FUTURE_TOLERANCE_SECONDS = 0
    results = ingest(event("now", ts=AT.isoformat()), event("later", ts="2027-01-20T12:00:01Z"))
    assert statuses(results) == ["created", "rejected"]
    assert results[1].error.code == "timestamp_in_future"


def test_start_boundary_is_inclusive(sub):
    assert statuses(ingest(event("first", ts=START.isoformat()))) == ["created"]


def test_events_after_the_subscription_ended_are_rejected(sub):
    ended = t(2027, 1, 18, 6)
    subscription_cancel(subscription=sub, at=ended, when="immediately")
    results = ingest(
        event("before", ts="2027-01-18T05:59:59.999999Z"),
        event("at-end", ts=ended.isoformat()),
        event("after", ts="2027-01-19T00:00:00Z"),
    )
    assert statuses(results) == ["created", "rejected", "rejected"]
    assert {(r.error.code, r.error.field) for r in results[1:]} == {
        ("after_subscription_end", "timestamp")
    }
    agg = aggregate("calls")
    # Usage of an ended subscription is due when it ended, not at its period's end.
    assert (agg.event_count, agg.period_end, agg.due_at) == (1, JAN[1], ended)


def test_rejected_transaction_id_can_be_sent_again_corrected(sub):
    bad = ingest(event("fix-me", "tokens", properties={"tokens": "lots"}))
    assert bad[0].error.code == "invalid_value"
    good = ingest(event("fix-me", "tokens", properties={"tokens": "3"}))
    assert statuses(good) == ["created"]
    assert aggregate("tokens").value_sum == 3
    # In one batch: the bad first copy does not make the corrected second one a duplicate.
    results = ingest(event("again", ts="2030-01-01T00:00:00Z"), event("again"))
    assert statuses(results) == ["rejected", "created"]
    assert UsageEvent.objects.filter(transaction_id="again").count() == 1


def test_empty_batch_and_too_many_events(sub):
    assert ingest() == []
    with pytest.raises(ValueError, match="1000"):
        usage_events_ingest(events=[event(f"e{i}") for i in range(MAX_BATCH + 1)], at=AT)
    assert not UsageEventKey.objects.exists()


def test_a_full_batch_is_stored(sub):
    results = usage_events_ingest(events=[event(f"e{i}") for i in range(MAX_BATCH)], at=AT)
    assert statuses(results) == ["created"] * MAX_BATCH
    assert aggregate("calls").event_count == MAX_BATCH
    assert UsageEvent.objects.count() == MAX_BATCH


# --- Timestamps and periods ------------------------------------------------------------


def test_missing_timestamp_means_received_at(sub):
    raw = event("no-ts")
    del raw["timestamp"]
    ingest(raw)
    assert UsageEvent.objects.get().timestamp == AT


def test_unix_seconds_and_offsets(sub):
    ingest(
        event("int", ts=1800000000),  # 2027-01-15T08:00:00Z
        event("dec", ts=Decimal("1800000000.25")),
        event("offset", ts="2027-01-20T13:00:00+02:00"),
    )
    stamps = dict(UsageEvent.objects.values_list("transaction_id", "timestamp"))
    assert stamps == {
        "int": t(2027, 1, 15, 8),
        "dec": t(2027, 1, 15, 8, 0, 0, 250000),
        "offset": t(2027, 1, 20, 11),
    }
    results = ingest(event("early", ts=1800000000 - 8 * 3600 - 1), event("bool", ts=True))
    assert [r.error.code for r in results] == ["before_subscription_start", "invalid_timestamp"]


def test_event_in_a_past_period_goes_to_that_period(sub):
    at = t(2027, 2, 20, 12)
    results = ingest(
        event("feb", ts="2027-02-20T10:00:00Z"),
        event("jan", ts="2027-02-14T23:59:59Z"),
        event("feb-start", ts="2027-02-15T00:00:00Z"),
        at=at,
    )
    assert statuses(results) == ["created"] * 3
    jan = aggregate("calls", t(2027, 1, 15))
    feb = aggregate("calls", t(2027, 2, 15))
    assert (jan.period_end, jan.event_count) == (t(2027, 2, 15), 1)
    assert (feb.period_end, feb.due_at, feb.event_count) == (t(2027, 3, 15), t(2027, 3, 15), 2)
    assert UsageEvent.objects.get(transaction_id="jan").aggregate_id == jan.pk


def test_period_bounds_follow_the_customer_time_zone(metrics):
    customer = factories.customer("nyc", timezone="America/New_York")
    plan = factories.plan("pro", "30.00")
    # 2027-01-15 10:00 in New York; its periods run from local midnight (05:00Z in winter).
    factories.subscription(customer=customer, plan=plan, at=t(2027, 1, 15, 15), external_id="sub-1")
    results = ingest(
        event("jan-last", ts="2027-02-15T04:59:59Z"),  # 2027-02-14 23:59:59 in New York
        event("feb-first", ts="2027-02-15T05:00:00Z"),  # 2027-02-15 00:00 in New York
        event("mar", ts="2027-03-15T04:00:00Z"),  # 03-15 00:00 EDT: DST began on 03-14
        at=t(2027, 3, 15, 4, 1),
    )
    assert statuses(results) == ["created"] * 3
    periods = sorted(
        UsageAggregate.objects.values_list("period_start", "period_end", "event_count")
    )
    assert periods == [
        (t(2027, 1, 15, 5), t(2027, 2, 15, 5), 1),
        (t(2027, 2, 15, 5), t(2027, 3, 15, 4), 1),
        (t(2027, 3, 15, 4), t(2027, 4, 15, 4), 1),
    ]


def test_trialing_subscription_counts_usage_in_its_trial(metrics):
    customer = factories.customer()
    plan = factories.plan("trial", "30.00", trial_days=14)
    sub = factories.subscription(customer=customer, plan=plan, at=START, external_id="sub-1")
    assert sub.status == SubscriptionStatus.TRIALING
    assert sub.trial_end_at == t(2027, 1, 29)
    results = ingest(
        event("in-trial", ts="2027-01-28T23:59:59Z"),
        event("after-trial", ts="2027-01-29T00:00:00Z"),
        at=t(2027, 1, 29, 0, 1),
    )
    assert statuses(results) == ["created", "created"]
    periods = sorted(
        UsageAggregate.objects.values_list("period_start", "period_end", "event_count")
    )
    # The trial is its own bucket; paid periods start at the trial's end (Jan 29, Feb 28...).
    assert periods == [
        (t(2027, 1, 15), t(2027, 1, 29), 1),
        (t(2027, 1, 29), t(2027, 2, 28), 1),
    ]


# --- Bugs found while writing these tests, fixed ------------------------------------------


def test_big_value_with_too_many_places_is_rejected_alone(sub):
    results = ingest(
        event("big", "tokens", properties={"tokens": "99999999999999999.0000000000001"}),
        event("ok"),
    )
    assert statuses(results) == ["rejected", "created"]
    assert results[0].error.code == "too_many_decimal_places"


def test_sum_keeps_twelve_places_on_big_totals(postgres_only, sub):
    ingest(event("a", "tokens", properties={"tokens": "99999999999999999"}))
    ingest(event("b", "tokens", properties={"tokens": "0.000000000001"}))
    assert aggregate("tokens").value_sum == Decimal("99999999999999999.000000000001")


def test_retry_without_timestamp_after_the_subscription_ended_is_a_duplicate(sub):
    raw = event("r1")
    del raw["timestamp"]
    assert statuses(ingest(raw)) == ["created"]
    subscription_cancel(subscription=sub, at=t(2027, 1, 21), when="immediately")
    assert statuses(ingest(raw, at=t(2027, 1, 22))) == ["duplicate"]


def test_retry_after_the_metric_was_archived_is_a_duplicate(sub, metrics):
    assert statuses(ingest(event("r1"))) == ["created"]
    BillableMetric.objects.filter(pk=metrics["calls"].pk).update(archived_at=t(2027, 1, 21))
    assert statuses(ingest(event("r1"), at=t(2027, 1, 22))) == ["duplicate"]


def test_empty_unique_value_is_rejected(sub):
    results = ingest(event("e1", "users", properties={"user": ""}))
    assert (results[0].status, results[0].error.code) == ("rejected", "invalid_value")
    assert results[0].error.field == "properties.user"


def test_unique_count_number_with_huge_exponent_is_rejected_alone(sub):
    results = ingest(
        event("huge", "users", properties={"user": Decimal("1E+1000000")}), event("ok")
    )
    assert statuses(results) == ["rejected", "created"]
    assert results[0].error.field == "properties.user"


def test_reference_by_id_is_not_taken_by_an_external_id_that_looks_like_it(sub):
    squatter = factories.subscription(
        customer=factories.customer("other"),
        plan=factories.plan("other", "1"),
        at=START,
        external_id=f"#{sub.pk + 2}",
    )
    target = factories.subscription(
        customer=factories.customer("third"), plan=factories.plan("third", "1"), at=START
    )
    assert target.pk == sub.pk + 2
    ingest(
        {**event("by-id"), "subscription": str(target.pk)},
        {**event("by-external-id"), "subscription": f"#{target.pk}"},
    )
    stored = dict(UsageEvent.objects.values_list("transaction_id", "subscription_id"))
    assert stored == {"by-id": target.pk, "by-external-id": squatter.pk}
