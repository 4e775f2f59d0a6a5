"""Writing accepted usage events, in one transaction and a fixed number of statements:

1. claim the transaction ids (a repeat, here or in a concurrent call, is not claimed);
2. claim the distinct values of unique_count metrics;
3. update the aggregates: on PostgreSQL one upsert that adds the batch's increments in SQL;
   where a percentage charge prices each event on its rank in the period (the first
   `free_events` are free), the aggregate is locked and read first and updated in Python;
4. insert the events.

Each step's rows are sorted, and steps run in this order, so concurrent calls take their
locks in one global order and never deadlock.
"""

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection

from billing.events.rows import columns_insert, rows_snapshot, rows_update
from billing.usage.alerts import usage_alerts_check
from billing.usage.models import UsageAggregate, UsageDistinctValue, UsageEvent, UsageEventKey
from catalog.models import BillableMetric, Charge
from catalog.pricing import ChargeModel, percentage_amount

AGGREGATE_KEY = ["subscription", "metric", "period_start"]
AGGREGATE_FIELDS = [
    "event_count",
    "value_sum",
    "value_max",
    "latest_value",
    "latest_at",
    "unique_count",
    "percentage_fees",
    "version",
    "unbilled",
]
# The increments of a batch, added in SQL (PostgreSQL); `t` is the stored row.
_INCREMENT = """
    event_count = t.event_count + EXCLUDED.event_count,
    value_sum = t.value_sum + EXCLUDED.value_sum,
    value_max = GREATEST(t.value_max, EXCLUDED.value_max),
    latest_value = CASE WHEN EXCLUDED.latest_at IS NOT NULL
        AND (t.latest_at IS NULL OR EXCLUDED.latest_at >= t.latest_at)
        THEN EXCLUDED.latest_value ELSE t.latest_value END,
    latest_at = GREATEST(t.latest_at, EXCLUDED.latest_at),
    unique_count = t.unique_count + EXCLUDED.unique_count,
    version = t.version + 1,
    unbilled = TRUE,
    updated_at = EXCLUDED.updated_at
"""


@dataclass
class EventResult:
    index: int
    transaction_id: str | None = None
    status: str = "rejected"  # created | duplicate | rejected
    error: Exception | None = None
    event: UsageEvent | None = None  # when asked for (a single event's answer)
    late: bool = False  # counted in a period that was invoiced already


@dataclass
class Accepted:
    """An event that passed every check, with what it refers to."""

    index: int
    transaction_id: str
    timestamp: datetime
    properties: dict
    properties_json: str
    sub: object  # billing.usage.services._Sub
    metric: BillableMetric
    value: Decimal | None
    distinct: str
    period: tuple[datetime, datetime]

    @property
    def key(self) -> tuple:
        return (self.sub.pk, self.metric.pk, self.period[0])


class _Delta:
    """A batch's increments to one aggregate."""

    __slots__ = ("count", "total", "maximum", "latest_at", "latest_value")

    def __init__(self):
        self.count, self.total = 0, Decimal(0)
        self.maximum = self.latest_at = self.latest_value = None

    def add(self, value: Decimal | None, at: datetime) -> None:
        self.count += 1
        if value is None:
            return
        self.total += value
        if self.maximum is None or value > self.maximum:
            self.maximum = value
        if self.latest_at is None or at >= self.latest_at:
            self.latest_at, self.latest_value = at, value

    def apply_to(self, aggregate: UsageAggregate) -> None:
        """Add to a stored aggregate, as `_INCREMENT` does in SQL."""
        aggregate.event_count += self.count
        aggregate.value_sum += self.total
        if self.maximum is not None and (
            aggregate.value_max is None or self.maximum > aggregate.value_max
        ):
            aggregate.value_max = self.maximum
        if self.latest_at is not None and (
            aggregate.latest_at is None or self.latest_at >= aggregate.latest_at
        ):
            aggregate.latest_at, aggregate.latest_value = self.latest_at, self.latest_value


def events_store(
    *, accepted: list[Accepted], results: list[EventResult], at: datetime, with_events: bool
) -> None:
    """Store `accepted` (call inside a transaction); sets each one's result. The aggregates
    are known by key as (id, billed_version)."""
    fresh = _claim(accepted, results)
    if not fresh:
        return
    fresh.sort(key=lambda item: item.index)
    distinct = _distinct_claim(fresh)
    fees = _percentage_charges({item.sub.plan_id for item in fresh if item.sub.has_percentage})
    in_python = {
        item.key
        for item in fresh
        if connection.vendor != "postgresql" or (item.sub.plan_id, item.metric.pk) in fees
    }
    aggregates = _aggregates_in_python([i for i in fresh if i.key in in_python], distinct, fees, at)
    aggregates.update(
        _aggregates_in_sql([i for i in fresh if i.key not in in_python], distinct, at)
    )
    ids = _events_insert(fresh, aggregates, at, returning=with_events)
    for position, item in enumerate(fresh):
        aggregate_id, billed_version = aggregates[item.key]
        result = results[item.index]
        result.status, result.late = "created", billed_version > 0
        if with_events:
            aggregate = UsageAggregate(pk=aggregate_id, period_start=item.period[0])
            aggregate.period_end = item.period[1]
            result.event = _event(item, aggregate, at, ids[position][0])
    watched = {aggregates[item.key][0] for item in fresh if item.sub.has_alerts}
    if watched:  # rare: read back the (locked) aggregates the alerts look at
        usage_alerts_check(aggregates=list(UsageAggregate.objects.filter(pk__in=watched)), at=at)


def _claim(accepted: list[Accepted], results: list[EventResult]) -> list[Accepted]:
    accepted.sort(key=lambda item: item.transaction_id)
    claimed = {
        row[0]
        for row in columns_insert(
            UsageEventKey,
            {
                "transaction_id": [item.transaction_id for item in accepted],
                "subscription": [item.sub.pk for item in accepted],
                "timestamp": [item.timestamp for item in accepted],
            },
            conflict=["transaction_id"],
            returning=["transaction_id"],
        )
    }
    fresh = []
    for item in accepted:
        if item.transaction_id in claimed:
            fresh.append(item)
        else:
            results[item.index].status = "duplicate"
    return fresh


def _distinct_claim(fresh: list[Accepted]) -> Counter:
    """How many of the batch's unique_count values are new, by aggregate key."""
    rows = sorted({(*item.key, item.distinct) for item in fresh if item.distinct})
    if not rows:
        return Counter()
    new = columns_insert(
        UsageDistinctValue,
        {
            "subscription": [row[0] for row in rows],
            "metric": [row[1] for row in rows],
            "period_start": [row[2] for row in rows],
            "value": [row[3] for row in rows],
        },
        conflict=["subscription", "metric", "period_start", "value"],
        returning=["subscription", "metric", "period_start"],
    )
    return Counter(new)


def _new_rows(items: list[Accepted], at: datetime, version: int) -> dict:
    """Columns of the aggregates of `items` as new rows, sorted by key (the lock order)."""
    first: dict[tuple, Accepted] = {}
    for item in items:
        first.setdefault(item.key, item)
    rows = []
    for key in sorted(first):
        item = first[key]
        start, end = item.period
        ended = item.sub.ended_at
        rows.append(
            {
                "customer": item.sub.customer_id,
                "subscription": item.sub.pk,
                "metric": item.metric.pk,
                "period_start": start,
                "period_end": end,
                "due_at": min(end, ended) if ended else end,
                "updated_at": at,
                "version": version,
                "unbilled": True,
                "billed_version": 0,
                "billed_value": Decimal(0),
                "billed_amount": Decimal(0),
                "percentage_fees": Decimal(0),
                "event_count": 0,
                "value_sum": Decimal(0),
                "unique_count": 0,
            }
        )
    return {name: [row[name] for row in rows] for name in rows[0]}


def _aggregates_in_sql(items: list[Accepted], distinct: Counter, at: datetime) -> dict:
    """PostgreSQL: create or update the aggregates in one upsert that adds the increments."""
    if not items:
        return {}
    deltas: dict[tuple, _Delta] = {}
    for item in items:
        deltas.setdefault(item.key, _Delta()).add(item.value, item.timestamp)
    columns = _new_rows(items, at, version=1)
    keys = list(
        zip(columns["subscription"], columns["metric"], columns["period_start"], strict=True)
    )
    columns["event_count"] = [deltas[key].count for key in keys]
    columns["value_sum"] = [deltas[key].total for key in keys]
    columns["value_max"] = [deltas[key].maximum for key in keys]
    columns["latest_value"] = [deltas[key].latest_value for key in keys]
    columns["latest_at"] = [deltas[key].latest_at for key in keys]
    columns["unique_count"] = [distinct.get(key, 0) for key in keys]
    rows = columns_insert(
        UsageAggregate,
        columns,
        conflict=AGGREGATE_KEY,
        update=_INCREMENT,
        returning=[*AGGREGATE_KEY, "id", "billed_version"],
    )
    return {(sub, metric, start): (pk, billed) for sub, metric, start, pk, billed in rows}


def _aggregates_in_python(
    items: list[Accepted], distinct: Counter, fees: dict, at: datetime
) -> dict:
    """Lock the aggregates (created if new) and add the events one by one: a percentage
    charge's fee depends on the event's rank in the period."""
    if not items:
        return {}
    ids = columns_insert(
        UsageAggregate,
        _new_rows(items, at, version=0),
        conflict=AGGREGATE_KEY,
        update="updated_at = excluded.updated_at",
        returning=["id"],
    )
    aggregates = {
        (a.subscription_id, a.metric_id, a.period_start): a
        for a in UsageAggregate.objects.filter(pk__in=[row[0] for row in ids])
    }
    before = rows_snapshot(list(aggregates.values()), AGGREGATE_FIELDS)
    deltas: dict[tuple, _Delta] = {}
    for item in items:
        aggregate, delta = aggregates[item.key], deltas.setdefault(item.key, _Delta())
        for properties in fees.get((item.sub.plan_id, item.metric.pk), ()):
            aggregate.percentage_fees += percentage_amount(
                properties,
                [item.value or Decimal(0)],
                events_before=aggregate.event_count + delta.count,
            )
        delta.add(item.value, item.timestamp)
    for key, aggregate in aggregates.items():
        deltas[key].apply_to(aggregate)
        aggregate.unique_count += distinct.get(key, 0)
        aggregate.version += 1
        aggregate.unbilled = True
    rows_update(UsageAggregate, list(aggregates.values()), AGGREGATE_FIELDS, snapshot=before)
    return {key: (a.pk, a.billed_version) for key, a in aggregates.items()}


def _events_insert(
    fresh: list[Accepted], aggregates: dict, at: datetime, *, returning: bool
) -> list[tuple]:
    return columns_insert(
        UsageEvent,
        {
            "transaction_id": [item.transaction_id for item in fresh],
            "subscription": [item.sub.pk for item in fresh],
            "metric": [item.metric.pk for item in fresh],
            "aggregate": [aggregates[item.key][0] for item in fresh],
            "timestamp": [item.timestamp for item in fresh],
            "value": [item.value for item in fresh],
            "properties": [item.properties_json for item in fresh],
            "received_at": [at] * len(fresh),
        },
        returning=["id"] if returning else None,
    )


def _event(item: Accepted, aggregate: UsageAggregate, at: datetime, pk: int) -> UsageEvent:
    properties = json.loads(item.properties_json)  # as stored: decimals as strings
    return UsageEvent(
        pk=pk,
        transaction_id=item.transaction_id,
        subscription_id=item.sub.pk,
        metric=item.metric,
        aggregate=aggregate,
        timestamp=item.timestamp,
        value=item.value,
        properties=properties,
        received_at=at,
    )


def _percentage_charges(plan_ids: set[int]) -> dict[tuple[int, int], list[dict]]:
    """Properties of the percentage charges of these plans, by (plan, metric)."""
    found: dict[tuple[int, int], list[dict]] = {}
    if not plan_ids:
        return found
    charges = Charge.objects.filter(plan_id__in=plan_ids, model=ChargeModel.PERCENTAGE)
    for plan_id, metric_id, properties in charges.values_list("plan_id", "metric_id", "properties"):
        found.setdefault((plan_id, metric_id), []).append(properties)
    return found
