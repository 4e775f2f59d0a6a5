"""Usage ingestion (billing.services.usage.usage_events_ingest): per-event checks,
deduplication on transaction_id, and the per-period aggregates kept at ingestion.

Every call passes a fixed `at` (the time the events were received); nothing reads the clock.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings

from billing.models import (
    SubscriptionStatus,
    UsageAggregate,
    UsageDistinctValue,
    UsageEvent,
    UsageEventKey,
)
from billing.services.subscriptions import subscription_cancel
from billing.services.usage import MAX_BATCH, usage_events_ingest
from billing.services.usage_billing import aggregate_value
from billing.tests import factories
from catalog.models import BillableMetric
from catalog.pricing import percentage_amount
from catalog.tests.factories import metric as metric_create

pytestmark = pytest.mark.django_db


def t(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


START = t(2027, 1, 15)  # the subscription starts (UTC midnight: its periods start at 00:00Z)
AT = t(2027, 1, 20, 12)  # the events are received
JAN = (t(2027, 1, 15), t(2027, 2, 15))


@pytest.fixture
def metrics(db) -> dict[str, BillableMetric]:
    return {
        "calls": metric_create("calls", "count"),
        "tokens": metric_create("tokens", "sum", "tokens"),
        "peak": metric_create("peak", "max", "gb"),
        "users": metric_create("users", "unique_count", "user"),
        "seats": metric_create("seats", "latest", "seats"),
    }


@pytest.fixture
def sub(metrics):
    customer = factories.customer()
    plan = factories.plan("pro", "30.00")
    return factories.subscription(customer=customer, plan=plan, at=START, external_id="sub-1")


def event(tx: str, code: str = "calls", ts: object = "2027-01-20T10:00:00Z", **extra) -> dict:
    body = {"transaction_id": tx, "subscription": "sub-1", "code": code, "timestamp": ts}
    return {**body, **extra}


def ingest(*events, at: datetime = AT):
    return usage_events_ingest(events=list(events), at=at)


def statuses(results) -> list[str]:
    return [r.status for r in results]


def aggregate(code: str, period_start: datetime = JAN[0]) -> UsageAggregate:
    return UsageAggregate.objects.get(metric__code=code, period_start=period_start)


# --- Aggregations ----------------------------------------------------------------------


def test_count_counts_events_and_stores_each_once(sub):
    results = ingest(event("c1"), event("c2"), event("c3", properties={"region": "eu"}))
    assert statuses(results) == ["created"] * 3
    assert [r.transaction_id for r in results] == ["c1", "c2", "c3"]
    assert [r.index for r in results] == [0, 1, 2]
    assert [(r.error, r.late) for r in results] == [(None, False)] * 3

    agg = aggregate("calls")
    assert (agg.period_start, agg.period_end, agg.due_at) == (*JAN, JAN[1])
    assert (agg.subscription_id, agg.customer_id) == (sub.pk, sub.customer_id)
    assert (agg.event_count, agg.value_sum, agg.value_max, agg.unique_count) == (3, 0, None, 0)
    assert (agg.latest_value, agg.latest_at, agg.percentage_fees) == (None, None, 0)
    assert (agg.version, agg.unbilled) == (1, True)
    assert aggregate_value(agg, "count") == 3

    stored = UsageEvent.objects.get(transaction_id="c3")
    assert (stored.subscription_id, stored.metric.code, stored.aggregate_id) == (
        sub.pk,
        "calls",
        agg.pk,
    )
    assert (stored.timestamp, stored.received_at, stored.value) == (t(2027, 1, 20, 10), AT, None)
    assert stored.properties == {"region": "eu"}
    assert UsageEvent.objects.count() == 3
    assert set(UsageEventKey.objects.values_list("transaction_id", flat=True)) == {
        "c1",
        "c2",
        "c3",
    }

    ingest(event("c4"))
    agg.refresh_from_db()
    assert (agg.event_count, agg.version) == (4, 2)


def test_sum_and_max_of_decimals_and_numeric_strings(sub):
    ingest(
        event("s1", "tokens", properties={"tokens": 1}),
        event("s2", "tokens", properties={"tokens": "2.5"}),
        event("s3", "tokens", properties={"tokens": Decimal("0.000000000001")}),
        event("s4", "tokens", properties={"tokens": "1.0000000000000"}),  # 13 places, exact
        event("m1", "peak", properties={"gb": "5"}),
        event("m2", "peak", properties={"gb": Decimal("12.75")}),
        event("m3", "peak", properties={"gb": 7}),
    )
    ingest(
        event("m4", "peak", properties={"gb": "12.7"}),
        event("s5", "tokens", properties={"tokens": 0}),
    )

    tokens = aggregate("tokens")
    assert tokens.event_count == 5
    assert tokens.value_sum == Decimal("4.500000000001")
    assert tokens.value_max == Decimal("2.5")
    assert aggregate_value(tokens, "sum") == Decimal("4.500000000001")
    peak = aggregate("peak")
    assert (peak.event_count, peak.value_max, peak.value_sum) == (
        4,
        Decimal("12.75"),
        Decimal("37.45"),
    )
    assert aggregate_value(peak, "max") == Decimal("12.75")
    values = dict(UsageEvent.objects.values_list("transaction_id", "value"))
    assert values["s2"] == Decimal("2.5")
    assert values["s3"] == Decimal("0.000000000001")
    assert values["s5"] == 0


def test_unique_count_counts_distinct_values_across_calls(sub):
    results = ingest(
        event("u1", "users", properties={"user": "alice"}),
        event("u2", "users", properties={"user": "bob"}),
        event("u3", "users", properties={"user": "alice"}),
        event("u4", "users", properties={"user": 42}),
        event("u5", "users", properties={"user": "42"}),  # the same value as 42
        event("u6", "users", properties={"user": Decimal("42.0")}),  # and again
    )
    assert statuses(results) == ["created"] * 6
    agg = aggregate("users")
    assert (agg.event_count, agg.unique_count) == (6, 3)
    ingest(
        event("u7", "users", properties={"user": "bob"}),
        event("u8", "users", properties={"user": "carol"}),
    )
    agg.refresh_from_db()
    assert (agg.event_count, agg.unique_count) == (8, 4)
    assert aggregate_value(agg, "unique_count") == 4
    assert sorted(UsageDistinctValue.objects.values_list("value", flat=True)) == [
        "42",
        "alice",
        "bob",
        "carol",
    ]


def test_unique_count_values_are_counted_per_period(sub):
    ingest(event("u1", "users", properties={"user": "alice"}))
    ingest(
        event("u2", "users", ts="2027-02-16T00:00:00Z", properties={"user": "alice"}),
        at=t(2027, 2, 16),
    )
    assert aggregate("users").unique_count == 1
    assert aggregate("users", t(2027, 2, 15)).unique_count == 1


def test_latest_keeps_the_newest_timestamp_not_the_last_received(sub):
    ingest(
        event("l1", "seats", ts="2027-01-20T10:00:00Z", properties={"seats": 5}),
        event("l2", "seats", ts="2027-01-20T11:00:00Z", properties={"seats": 7}),
    )
    agg = aggregate("seats")
    assert (agg.latest_value, agg.latest_at) == (7, t(2027, 1, 20, 11))

    # An older event that arrives later does not replace the latest value.
    ingest(event("l3", "seats", ts="2027-01-20T09:00:00Z", properties={"seats": 99}))
    agg.refresh_from_db()
    assert (agg.latest_value, agg.latest_at, agg.event_count) == (7, t(2027, 1, 20, 11), 3)
    assert agg.value_max == 99  # still counted in the other aggregates
    assert aggregate_value(agg, "latest") == 7

    # Same timestamp: the one received last wins (here: a later call).
    ingest(event("l4", "seats", ts="2027-01-20T11:00:00Z", properties={"seats": 6}))
    agg.refresh_from_db()
    assert (agg.latest_value, agg.latest_at, agg.event_count) == (6, t(2027, 1, 20, 11), 4)
    # A newer one, by a microsecond, replaces it.
    ingest(event("l5", "seats", ts="2027-01-20T11:00:00.000001Z", properties={"seats": 1}))
    agg.refresh_from_db()
    assert (agg.latest_value, agg.latest_at) == (1, t(2027, 1, 20, 11, 0, 0, 1))


def test_latest_ties_within_one_batch_go_to_the_later_event(sub):
    ingest(
        event("l1", "seats", ts="2027-01-20T11:00:00Z", properties={"seats": 3}),
        event("l2", "seats", ts="2027-01-20T11:00:00Z", properties={"seats": 4}),
        event("l3", "seats", ts="2027-01-20T10:59:59Z", properties={"seats": 50}),
    )
    agg = aggregate("seats")
    assert (agg.latest_value, agg.latest_at) == (4, t(2027, 1, 20, 11))


def test_one_batch_updates_several_aggregates(sub):
    ingest(
        event("a", "calls"),
        event("b", "tokens", properties={"tokens": "3"}),
        event("c", "calls"),
        event("d", "tokens", properties={"tokens": "4"}),
    )
    assert (aggregate("calls").event_count, aggregate("tokens").value_sum) == (2, 7)
    assert UsageAggregate.objects.count() == 2
    assert dict(UsageEvent.objects.values_list("transaction_id", "aggregate__metric__code")) == {
        "a": "calls",
        "b": "tokens",
        "c": "calls",
        "d": "tokens",
    }


# --- Deduplication ---------------------------------------------------------------------


def test_duplicate_in_one_batch_is_counted_once(sub):
    results = ingest(
        event("d1", "tokens", properties={"tokens": 5}),
        event("d1", "tokens", properties={"tokens": 100}),
        event("d2", "tokens", properties={"tokens": 1}),
    )
    assert statuses(results) == ["created", "duplicate", "created"]
    assert results[1].transaction_id == "d1"
    assert results[1].error is None
    assert results[1].event is None
    agg = aggregate("tokens")
    assert (agg.event_count, agg.value_sum) == (2, 6)
    assert UsageEvent.objects.filter(transaction_id="d1").get().value == 5
    assert UsageEventKey.objects.count() == 2


def test_single_then_batch_duplicate(sub):
    assert statuses(ingest(event("d1", "tokens", properties={"tokens": 5}))) == ["created"]
    results = ingest(
        event("d2", "tokens", properties={"tokens": 1}),
        event("d1", "tokens", properties={"tokens": 5}),
        at=AT + timedelta(hours=1),
    )
    assert statuses(results) == ["created", "duplicate"]
    agg = aggregate("tokens")
    assert (agg.event_count, agg.value_sum, agg.version) == (2, 6, 2)
    assert UsageEvent.objects.filter(transaction_id="d1").count() == 1
    assert UsageEventKey.objects.filter(transaction_id="d1").count() == 1


def test_batch_then_single_duplicate_even_with_other_content(sub):
    ingest(event("d1", "tokens", properties={"tokens": 5}), event("d2", "calls"))
    again = ingest(event("d1", "tokens", properties={"tokens": 500}), at=AT + timedelta(days=3))
    assert statuses(again) == ["duplicate"]
    assert again[0].event is None
    agg = aggregate("tokens")
    assert (agg.event_count, agg.value_sum, agg.version) == (1, 5, 1)
    # The same transaction id under another metric is a duplicate too: ids are global.
    assert statuses(ingest(event("d2", "tokens", properties={"tokens": 1}))) == ["duplicate"]
    assert aggregate("tokens").event_count == 1
    assert UsageEvent.objects.count() == 2


def test_only_duplicates_write_nothing(sub):
    ingest(event("d1"))
    before = aggregate("calls")
    assert statuses(ingest(event("d1"), event("d1"))) == ["duplicate", "duplicate"]
    after = aggregate("calls")
    assert (after.event_count, after.version, after.updated_at) == (1, 1, before.updated_at)


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


# --- Percentage charges ----------------------------------------------------------------

PERCENTAGE = {
    "rate": "2.9",
    "fixed_amount": "0.30",
    "free_events": 2,
    "per_event_min": "0.50",
    "per_event_max": "5",
}


def test_percentage_fees_per_event_with_free_events_and_clamps(metrics):
    payments = metric_create("payments", "sum", "amount")
    customer = factories.customer()
    plan = factories.plan(
        "pay",
        "0",
        charges=[
            {"metric": payments, "model": "percentage", "properties": PERCENTAGE},
            {"metric": metrics["calls"], "model": "standard", "properties": {"unit_amount": "1"}},
        ],
    )
    factories.subscription(customer=customer, plan=plan, at=START, external_id="sub-1")
    normalized = plan.charges.get(model="percentage").properties
    amounts = ["10", "20", "100", "5", "1000", "33.33"]

    def pay(tx, amount):
        return event(tx, "payments", properties={"amount": amount})

    ingest(pay("p0", amounts[0]), pay("p1", amounts[1]), pay("p2", amounts[2]))
    agg = aggregate("payments")
    # Two free events, then 100 × 2.9% + 0.30 = 3.20.
    assert agg.percentage_fees == Decimal("3.2")
    ingest(pay("p3", amounts[3]), pay("p4", amounts[4]), pay("p2", "9999"))  # p2: duplicate
    ingest(pay("p5", amounts[5]))
    agg.refresh_from_db()
    # 5 → 0.445, raised to the 0.50 minimum; 1000 → 29.30, capped at 5;
    # 33.33 → 0.96657 + 0.30 = 1.26657.
    assert agg.percentage_fees == Decimal("9.96657")
    expected = percentage_amount(normalized, [Decimal(a) for a in amounts])
    assert agg.percentage_fees == expected
    assert (agg.event_count, agg.value_sum) == (6, Decimal("1168.33"))
    # A metric without a percentage charge collects no fees.
    ingest(event("c1"))
    assert aggregate("calls").percentage_fees == 0


def test_percentage_fees_on_a_count_metric_are_the_fixed_amount(metrics):
    customer = factories.customer()
    plan = factories.plan(
        "pay",
        "0",
        charges=[
            {
                "metric": metrics["calls"],
                "model": "percentage",
                "properties": {"rate": "10", "fixed_amount": "0.25", "free_events": 1},
            }
        ],
    )
    factories.subscription(customer=customer, plan=plan, at=START, external_id="sub-1")
    ingest(event("a"), event("b"), event("c"))
    assert aggregate("calls").percentage_fees == Decimal("0.5")


# --- Other inputs ----------------------------------------------------------------------


def test_subscription_by_id_as_number_or_text(sub):
    results = ingest(
        {**event("n"), "subscription": sub.pk}, {**event("s"), "subscription": str(sub.pk)}
    )
    assert statuses(results) == ["created", "created"]
    assert aggregate("calls").event_count == 2


def test_properties_size_limit(sub):
    big = {"blob": "x" * 8200}
    results = ingest(event("big", properties=big), event("ok", properties={"blob": "x" * 8000}))
    assert statuses(results) == ["rejected", "created"]
    assert (results[0].error.code, results[0].error.field) == ("too_large", "properties")


def test_event_in_a_billed_period_is_late_and_unbills_the_aggregate(sub):
    ingest(event("first"))
    UsageAggregate.objects.update(unbilled=False, billed_version=1, billed_value=1)
    results = ingest(event("late"), at=t(2027, 1, 21))
    assert (results[0].status, results[0].late) == ("created", True)
    agg = aggregate("calls")
    assert (agg.event_count, agg.version, agg.unbilled, agg.billed_version) == (2, 2, True, 1)


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
