"""Usage ingestion: check each event, deduplicate on `transaction_id` forever, store the event
and update its period's aggregate, all in one transaction per call.

A call takes one event or a batch; each event gets its own result (created, duplicate or
rejected) and one bad event never rejects the others. The writes are a fixed number of
statements whatever the batch size, in a fixed lock order (transaction ids, then aggregates
by key), so concurrent calls never deadlock and never count an event twice.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Context, Decimal, localcontext

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from billing import periods
from billing.models import (
    Subscription,
    UsageAggregate,
    UsageAlert,
    UsageDistinctValue,
    UsageEvent,
    UsageEventKey,
)
from billing.services.rows import (
    rows_insert,
    rows_insert_new,
    rows_snapshot,
    rows_update,
    rows_upsert_lock,
)
from billing.services.usage_alerts import usage_alerts_check
from billing.services.usage_input import EventInput, UsageEventError, event_parse, event_value
from catalog.models import BillableMetric, Charge
from catalog.pricing import ChargeModel, percentage_amount

MAX_BATCH = 1000
_WIDE = Context(prec=60)  # sums of 38-digit columns, exact
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
_SUB_FIELDS = (
    "pk",
    "external_id",
    "customer_id",
    "plan_id",
    "start_at",
    "ended_at",
    "trial_end_at",
    "current_period_start",
    "current_period_end",
    "interval",
    "interval_count",
    "anchor_date",
    "anchor_day",
    "start_date",
    "timezone",
    "has_percentage",
    "has_alerts",
)


@dataclass
class EventResult:
    index: int
    transaction_id: str | None = None
    status: str = "rejected"  # created | duplicate | rejected
    error: UsageEventError | None = None
    event: UsageEvent | None = None
    late: bool = False


@dataclass
class _Sub:
    """What ingestion needs of a subscription (read without a lock: ingestion never changes
    a subscription, and a period is fixed by the schedule)."""

    pk: int
    external_id: str | None
    customer_id: int
    plan_id: int
    start_at: datetime
    ended_at: datetime | None
    trial_end_at: datetime | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    interval: str
    interval_count: int
    anchor_date: object
    anchor_day: int
    start_date: object
    timezone: str
    has_percentage: bool  # its plan has a percentage charge
    has_alerts: bool  # it has active usage alerts

    def period_of(self, at: datetime) -> tuple[datetime, datetime]:
        """The [start, end) of the billing period `at` falls in (`at` >= start_at)."""
        current = self.current_period_start
        if current is not None and current <= at < self.current_period_end:
            return current, self.current_period_end
        if self.trial_end_at is not None and at < self.trial_end_at:
            return self.start_at, self.trial_end_at
        schedule = periods.Schedule(
            interval=self.interval,
            interval_count=self.interval_count,
            anchor=self.anchor_date,
            anchor_day=self.anchor_day,
            start_date=self.start_date,
            tz=self.timezone,
        )
        first = periods.first_period(schedule).start
        if at >= first:
            period = periods.period_containing(schedule, at)
            return period.start, period.end
        # Before the schedule restarted (a change of interval): one bucket up to the restart.
        return max(self.start_at, self.trial_end_at or self.start_at), first


@dataclass
class _Accepted:
    index: int
    event: EventInput
    sub: _Sub
    metric: BillableMetric
    value: Decimal | None
    distinct: str
    period: tuple[datetime, datetime]

    @property
    def aggregate_key(self) -> tuple:
        return (self.sub.pk, self.metric.pk, self.period[0])


def usage_events_ingest(*, events: list, at: datetime) -> list[EventResult]:
    """Check and store `events` (raw dicts as received), received at `at`; a result each,
    in order. Raises ValueError for more than MAX_BATCH events."""
    if len(events) > MAX_BATCH:
        raise ValueError(f"At most {MAX_BATCH} events per call.")
    results = [EventResult(index=index) for index in range(len(events))]
    parsed: list[tuple[int, EventInput]] = []
    for index, raw in enumerate(events):
        try:
            event = event_parse(raw, at=at)
        except UsageEventError as exc:
            results[index].error = exc
            if isinstance(raw, dict) and isinstance(raw.get("transaction_id"), str):
                results[index].transaction_id = raw["transaction_id"][:255]
            continue
        results[index].transaction_id = event.transaction_id
        parsed.append((index, event))
    subs = _subscriptions({event.subscription for _, event in parsed})
    metrics = {
        m.code: m for m in BillableMetric.objects.filter(code__in={e.code for _, e in parsed})
    }
    latest = at + timedelta(seconds=settings.USAGE_FUTURE_TOLERANCE_SECONDS)
    accepted: list[_Accepted] = []
    refused: list[int] = []
    seen: set[str] = set()
    for index, event in parsed:
        try:
            item = _accept(index, event, subs, metrics, latest)
        except UsageEventError as exc:
            results[index].error = exc
            refused.append(index)
            continue
        if event.transaction_id in seen:  # twice in one batch: the first one counts
            results[index].status = "duplicate"
            continue
        seen.add(event.transaction_id)
        accepted.append(item)
    _received_before(refused, results)
    if accepted:
        with transaction.atomic(), localcontext(_WIDE):
            _store(accepted, results, at)
    return results


def _received_before(indexes: list[int], results: list[EventResult]) -> None:
    """A refused event whose transaction_id was stored before is a retry (after the
    subscription ended, the metric was archived, …): a duplicate, not an error."""
    if not indexes:
        return
    known = set(
        UsageEventKey.objects.filter(
            pk__in={results[i].transaction_id for i in indexes}
        ).values_list("pk", flat=True)
    )
    for index in indexes:
        if results[index].transaction_id in known:
            results[index].status, results[index].error = "duplicate", None


def _subscriptions(references: set[str]) -> dict[str, _Sub]:
    """Subscriptions by reference: a number is an id first, else an external_id."""
    if not references:
        return {}
    ids = {r: int(r) for r in references if r.isascii() and r.isdigit() and len(r) <= 18}
    rows = Subscription.objects.filter(
        Q(pk__in=ids.values()) | Q(external_id__in=references)
    ).annotate(
        has_percentage=Exists(
            Charge.objects.filter(plan_id=OuterRef("plan_id"), model=ChargeModel.PERCENTAGE)
        ),
        has_alerts=Exists(UsageAlert.objects.filter(subscription_id=OuterRef("pk"), active=True)),
    )
    by_id, by_external_id = {}, {}
    for values in rows.values_list(*_SUB_FIELDS):
        sub = _Sub(*values)
        by_id[sub.pk] = sub
        if sub.external_id:
            by_external_id[sub.external_id] = sub
    found = {}
    for ref in references:
        sub = by_id.get(ids[ref]) if ref in ids else None
        if sub := sub or by_external_id.get(ref):
            found[ref] = sub
    return found


def _accept(
    index: int,
    event: EventInput,
    subs: dict[str, _Sub],
    metrics: dict[str, BillableMetric],
    latest: datetime,
) -> _Accepted:
    """The event with what it refers to, or UsageEventError."""
    sub = subs.get(event.subscription)
    if sub is None:
        raise UsageEventError(
            "unknown_subscription", f"No subscription {event.subscription!r}.", "subscription"
        )
    metric = metrics.get(event.code)
    if metric is None:
        raise UsageEventError("unknown_metric", f"No metric with the code {event.code!r}.", "code")
    if metric.archived_at is not None:
        raise UsageEventError("metric_archived", f"The metric {event.code} is archived.", "code")
    ts = event.timestamp
    if ts > latest:
        raise UsageEventError(
            "timestamp_in_future",
            f"The timestamp is more than {settings.USAGE_FUTURE_TOLERANCE_SECONDS} s ahead "
            "of the server's clock.",
            "timestamp",
        )
    if ts < sub.start_at:
        raise UsageEventError(
            "before_subscription_start",
            f"The timestamp is before the subscription starts ({sub.start_at.isoformat()}).",
            "timestamp",
        )
    if sub.ended_at is not None and ts >= sub.ended_at:
        raise UsageEventError(
            "after_subscription_end",
            f"The subscription ended at {sub.ended_at.isoformat()}.",
            "timestamp",
        )
    value, distinct = event_value(event, metric.aggregation, metric.field)
    return _Accepted(index, event, sub, metric, value, distinct, sub.period_of(ts))


def _store(accepted: list[_Accepted], results: list[EventResult], at: datetime) -> None:
    # 1. Claim the transaction ids, in order: a duplicate (here or in a concurrent call) is
    # not claimed, and is neither stored nor counted again.
    accepted.sort(key=lambda item: item.event.transaction_id)
    claimed = set(
        rows_insert_new(
            UsageEventKey,
            [
                UsageEventKey(
                    transaction_id=item.event.transaction_id,
                    subscription_id=item.sub.pk,
                    timestamp=item.event.timestamp,
                )
                for item in accepted
            ],
            unique=["transaction_id"],
            returning="transaction_id",
        )
    )
    fresh = []
    for item in accepted:
        if item.event.transaction_id in claimed:
            fresh.append(item)
        else:
            results[item.index].status = "duplicate"
    if not fresh:
        return
    fresh.sort(key=lambda item: item.index)
    aggregates = _aggregates_lock(fresh, at)
    before = rows_snapshot(list(aggregates.values()), AGGREGATE_FIELDS)
    fees = _percentage_charges({item.sub.plan_id for item in fresh if item.sub.has_percentage})
    distinct_rows = []
    events = []
    for item in fresh:
        aggregate = aggregates[item.aggregate_key]
        _add(aggregate, item, fees.get((item.sub.plan_id, item.metric.pk), ()))
        if item.distinct:
            distinct_rows.append(UsageDistinctValue(aggregate=aggregate, value=item.distinct))
        events.append(
            UsageEvent(
                transaction_id=item.event.transaction_id,
                subscription_id=item.sub.pk,
                metric=item.metric,
                aggregate=aggregate,
                timestamp=item.event.timestamp,
                value=item.value,
                properties=item.event.properties,
                received_at=at,
            )
        )
        result = results[item.index]
        result.status, result.event, result.late = "created", events[-1], aggregate.is_late
    distinct_rows.sort(key=lambda row: (row.aggregate_id, row.value))
    new_values = rows_insert_new(
        UsageDistinctValue, distinct_rows, unique=["aggregate", "value"], returning="aggregate"
    )
    by_id = {aggregate.pk: aggregate for aggregate in aggregates.values()}
    for aggregate_id, count in Counter(new_values).items():
        by_id[aggregate_id].unique_count += count
    for aggregate in aggregates.values():
        aggregate.version += 1
        aggregate.unbilled = True
    rows_update(UsageAggregate, list(aggregates.values()), AGGREGATE_FIELDS, snapshot=before)
    rows_insert(UsageEvent, events)
    watched = {item.sub.pk for item in fresh if item.sub.has_alerts}
    if watched:
        usage_alerts_check(
            aggregates=[a for a in aggregates.values() if a.subscription_id in watched], at=at
        )


def _aggregates_lock(fresh: list[_Accepted], at: datetime) -> dict[tuple, UsageAggregate]:
    """The aggregates the events count in, created if new, locked, by key."""
    new = {}
    for item in fresh:
        if item.aggregate_key not in new:
            start, end = item.period
            ended = item.sub.ended_at
            new[item.aggregate_key] = UsageAggregate(
                customer_id=item.sub.customer_id,
                subscription_id=item.sub.pk,
                metric_id=item.metric.pk,
                period_start=start,
                period_end=end,
                due_at=min(end, ended) if ended else end,
                updated_at=at,
            )
    ids = rows_upsert_lock(
        UsageAggregate,
        [new[key] for key in sorted(new)],
        unique=["subscription", "metric", "period_start"],
        touch="updated_at",
    )
    return {
        (a.subscription_id, a.metric_id, a.period_start): a
        for a in UsageAggregate.objects.filter(pk__in=ids)
    }


def _percentage_charges(plan_ids: set[int]) -> dict[tuple[int, int], list[dict]]:
    """Properties of the percentage charges of these plans, by (plan, metric)."""
    found: dict[tuple[int, int], list[dict]] = {}
    if not plan_ids:
        return found
    charges = Charge.objects.filter(plan_id__in=plan_ids, model=ChargeModel.PERCENTAGE)
    for plan_id, metric_id, properties in charges.values_list("plan_id", "metric_id", "properties"):
        found.setdefault((plan_id, metric_id), []).append(properties)
    return found


def _add(aggregate: UsageAggregate, item: _Accepted, percentage: list[dict]) -> None:
    """Count one event in its aggregate (unique values are counted after their insert)."""
    value = item.value
    for properties in percentage:  # fees per event: the period's first events may be free
        aggregate.percentage_fees += percentage_amount(
            properties, [value or Decimal(0)], events_before=aggregate.event_count
        )
    aggregate.event_count += 1
    if value is None:
        return
    aggregate.value_sum += value
    if aggregate.value_max is None or value > aggregate.value_max:
        aggregate.value_max = value
    if aggregate.latest_at is None or item.event.timestamp >= aggregate.latest_at:
        aggregate.latest_value, aggregate.latest_at = value, item.event.timestamp
