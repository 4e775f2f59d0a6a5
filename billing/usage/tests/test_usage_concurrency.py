"""Concurrent usage ingestion on PostgreSQL (skipped on SQLite): real threads, each with its
own connection, all released together by a barrier; every transaction commits.

What must hold: a transaction_id is stored and counted once whatever the race, batches that
touch the same aggregates in different orders never deadlock and add up exactly, and an
alert crossed by concurrent calls fires once.
"""

import json
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from billing.models import (
    BillingEvent,
    UsageAggregate,
    UsageAlert,
    UsageDistinctValue,
    UsageEvent,
    UsageEventKey,
)
from billing.tests import factories
from billing.usage.alerts import usage_alert_create
from billing.usage.services import usage_events_ingest
from catalog.tests.factories import metric as metric_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20
START = datetime(2027, 1, 15, tzinfo=UTC)
AT = datetime(2027, 2, 20, 12, tzinfo=UTC)  # in the second period: events go to both
JAN, FEB = datetime(2027, 1, 15, tzinfo=UTC), datetime(2027, 2, 15, tzinfo=UTC)


def in_threads(work, count: int = THREADS) -> list:
    """work(i) for i in range(count), each in its own thread (and database connection),
    started together; returns the results in order and re-raises any thread's error."""
    barrier = threading.Barrier(count, timeout=30)

    def run(i):
        try:
            barrier.wait()
            return work(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run, i) for i in range(count)]
        return [future.result(timeout=120) for future in futures]


@pytest.fixture
def setup(postgres_only):
    metrics = {
        "calls": metric_create("calls", "count"),
        "tokens": metric_create("tokens", "sum", "tokens"),
        "users": metric_create("users", "unique_count", "user"),
    }
    plan = factories.plan("pro", "30.00")
    subs = [
        factories.subscription(
            customer=factories.customer(f"c{n}"), plan=plan, at=START, external_id=f"sub-{n}"
        )
        for n in range(3)
    ]
    return {"metrics": metrics, "subs": subs}


def event(tx: str, sub: str = "sub-0", code: str = "calls", day: int = 20, **properties):
    return {
        "transaction_id": tx,
        "subscription": sub,
        "code": code,
        "timestamp": f"2027-02-{day:02}T10:00:00Z",
        "properties": properties,
    }


def test_same_transaction_id_from_many_threads_is_stored_once(setup):
    body = event("same", code="tokens", tokens="2.5")

    def work(i):
        return usage_events_ingest(events=[body], at=AT)[0].status

    statuses = in_threads(work)
    assert Counter(statuses) == {"created": 1, "duplicate": THREADS - 1}
    assert UsageEvent.objects.filter(transaction_id="same").count() == 1
    assert UsageEventKey.objects.filter(transaction_id="same").count() == 1
    agg = UsageAggregate.objects.get()
    assert (agg.event_count, agg.value_sum, agg.version) == (1, Decimal("2.5"), 1)


def test_same_transaction_id_through_the_api_is_201_once(setup, api_key):
    body = json.dumps(event("same"))

    def work(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw}")
        response = client.post("/api/v1/events/", data=body, content_type="application/json")
        return response.status_code, response.json()

    with time_machine.travel(AT, tick=False):
        answers = in_threads(work)
    assert Counter(status for status, _ in answers) == {201: 1, 200: THREADS - 1}
    bodies = {json.dumps(body, sort_keys=True) for _, body in answers}
    assert len(bodies) == 1  # every answer is the one stored event
    stored = UsageEvent.objects.get()
    assert answers[0][1]["id"] == stored.pk
    assert UsageEventKey.objects.count() == 1
    assert UsageAggregate.objects.get().event_count == 1


def _batch(i: int) -> list[dict]:
    """Thread i's events: its own transaction ids, over 3 subscriptions × 3 metrics × 2
    periods (18 aggregates), in an order of its own."""
    events = []
    for n in range(3):
        for day in (10, 20):  # 2027-02-10 is in January's period, 2027-02-20 in February's
            sub = f"sub-{n}"
            events += [event(f"t{i}-{n}-{day}-c{k}", sub, "calls", day) for k in range(2)]
            events.append(event(f"t{i}-{n}-{day}-s", sub, "tokens", day, tokens=f"{i}.5"))
            events.append(event(f"t{i}-{n}-{day}-u", sub, "users", day, user=f"u{i % 7}"))
    random.Random(i).shuffle(events)
    return events


def test_batches_over_the_same_aggregates_in_any_order_add_up(setup):
    def work(i):
        return [r.status for r in usage_events_ingest(events=_batch(i), at=AT)]

    results = in_threads(work)
    assert all(statuses == ["created"] * 24 for statuses in results)

    aggregates = list(UsageAggregate.objects.select_related("metric"))
    assert len(aggregates) == 18
    token_sum = sum(Decimal(f"{i}.5") for i in range(THREADS))  # 200
    for agg in aggregates:
        assert agg.period_start in (JAN, FEB)
        assert agg.version == THREADS  # one update per call
        code = agg.metric.code
        assert agg.event_count == {"calls": 2, "tokens": 1, "users": 1}[code] * THREADS
        assert agg.value_sum == (token_sum if code == "tokens" else 0)
        assert agg.unique_count == (7 if code == "users" else 0)
    assert UsageEvent.objects.count() == 24 * THREADS
    assert UsageEventKey.objects.count() == 24 * THREADS
    assert UsageDistinctValue.objects.count() == 6 * 7


def test_overlapping_batches_in_opposite_orders_count_each_event_once(setup):
    """Thread i sends ids i..i+29 of a shared pool, half of the threads reversed: every id
    is claimed by several threads at once, and only one of them counts it."""

    def work(i):
        events = [event(f"p{k}", f"sub-{k % 3}", "tokens", tokens="1") for k in range(i, i + 30)]
        if i % 2:
            events.reverse()
        return [r.status for r in usage_events_ingest(events=events, at=AT)]

    results = in_threads(work)
    pool = THREADS + 29
    assert sum(statuses.count("created") for statuses in results) == pool
    assert UsageEvent.objects.count() == UsageEventKey.objects.count() == pool
    sums = dict(UsageAggregate.objects.values_list("subscription__external_id", "value_sum"))
    assert sums == {f"sub-{n}": sum(1 for k in range(pool) if k % 3 == n) for n in range(3)}
    counts = UsageAggregate.objects.values_list("event_count", flat=True)
    assert sum(counts) == pool


def test_alert_crossed_by_concurrent_calls_fires_once(setup):
    sub = setup["subs"][0]
    calls = setup["metrics"]["calls"]
    alert = usage_alert_create(subscription=sub, metric=calls, threshold=Decimal(10), at=START)
    high = usage_alert_create(subscription=sub, metric=calls, threshold=Decimal(15), at=START)
    never = usage_alert_create(subscription=sub, metric=calls, threshold=Decimal(41), at=START)

    def work(i):
        events = [event(f"a{i}-{k}") for k in range(2)]
        return [r.status for r in usage_events_ingest(events=events, at=AT)]

    assert in_threads(work) == [["created", "created"]] * THREADS
    assert UsageAggregate.objects.get().event_count == 2 * THREADS
    fired = BillingEvent.objects.filter(kind="usage.threshold_reached")
    assert sorted(fired.values_list("subject_id", flat=True)) == sorted(
        [str(alert.pk), str(high.pk)]
    )
    first = fired.get(subject_id=str(alert.pk))
    # Calls add 2 events at a time under the aggregate's lock: the one that reached 10 fired.
    assert (first.payload["value"], first.payload["threshold"]) == ("10", "10")
    assert fired.get(subject_id=str(high.pk)).payload["value"] == "16"
    assert first.dedupe_key == f"usage_alert:{alert.pk}:{FEB.isoformat()}"
    stamps = dict(UsageAlert.objects.values_list("pk", "last_fired_period_start"))
    assert stamps == {alert.pk: FEB, high.pk: FEB, never.pk: None}


def test_locks_are_taken_in_one_order_before_the_writes(setup):
    """Transaction ids are claimed first, then distinct values, then the aggregates are
    upserted in key order (the increments added in SQL), and only then the events written."""
    usage_events_ingest(events=[event("warm")], at=AT)  # the aggregate exists: a lock
    events = [
        event("k2", "sub-1", "tokens", tokens="1"),
        event("k1", "sub-0"),
        event("k3", "sub-0", "users", user="x"),
    ]
    with CaptureQueriesContext(connection) as queries:
        usage_events_ingest(events=events, at=AT)
    sql = [q["sql"] for q in queries]

    def first(prefix: str) -> int:
        return next(i for i, s in enumerate(sql) if s.startswith(prefix))

    claim = first('INSERT INTO "billing_usageeventkey"')
    distinct = first('INSERT INTO "billing_usagedistinctvalue"')
    upsert = first('INSERT INTO "billing_usageaggregate"')
    insert = first('INSERT INTO "billing_usageevent"')
    assert claim < distinct < upsert < insert
    assert "ORDER BY n ON CONFLICT" in sql[upsert]
    assert '"event_count" = t.event_count + EXCLUDED.event_count' in sql[upsert].replace(
        "event_count = t.", '"event_count" = t.'
    )
    assert not any(s.startswith('UPDATE "billing_usageaggregate"') for s in sql)
    assert "DO NOTHING RETURNING" in sql[claim]
