"""Usage ingestion (billing.usage.services.usage_events_ingest): deduplication on
transaction_id, the per-period aggregates kept at ingestion, and percentage fees.

Every call passes a fixed `at` (the time the events were received); nothing reads the clock.
"""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.models import UsageAggregate, UsageDistinctValue, UsageEvent, UsageEventKey
from billing.tests import factories
from billing.usage.pricing import aggregate_value
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
from catalog.pricing import percentage_amount
from catalog.tests.factories import metric as metric_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def metrics(db) -> dict[str, BillableMetric]:
    return metrics_create()


@pytest.fixture
def sub(metrics):
    return subscription_create()


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
