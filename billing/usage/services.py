"""Usage ingestion: check each event, deduplicate on `transaction_id` forever, store the event
and update its period's aggregate, all in one transaction per call.

A call takes one event or a batch; each event gets its own result (created, duplicate or
rejected) and one bad event never rejects the others. The writes (billing.usage.store)
are a fixed number of statements whatever the batch size, in a fixed lock order, so
concurrent calls never deadlock and never count an event twice.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Context, localcontext

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from billing.subscriptions import periods
from billing.subscriptions.models.subscriptions import Subscription
from billing.usage.input import EventInput, UsageEventError, event_parse, event_value
from billing.usage.models import UsageAlert, UsageEventKey
from billing.usage.store import Accepted, EventResult, events_store
from catalog.models import BillableMetric, Charge
from catalog.pricing import ChargeModel

MAX_BATCH = 1000
_WIDE = Context(prec=60)  # sums of 38-digit columns, exact
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
    "has_percentage",
    "has_alerts",
)


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
    has_percentage: bool  # its plan has a percentage charge
    has_alerts: bool  # it has active usage alerts
    schedule: periods.Schedule | None = None  # read when first needed (a late event)

    def period_of(self, at: datetime) -> tuple[datetime, datetime]:
        """The [start, end) of the billing period `at` falls in (`at` >= start_at)."""
        current = self.current_period_start
        if current is not None and current <= at < self.current_period_end:
            return current, self.current_period_end
        if self.trial_end_at is not None and at < self.trial_end_at:
            return self.start_at, self.trial_end_at
        if self.schedule is None:
            self.schedule = Subscription.objects.get(pk=self.pk).schedule
        schedule = self.schedule
        first = periods.first_period(schedule).start
        if at >= first:
            period = periods.period_containing(schedule, at)
            return period.start, period.end
        # Before the schedule restarted (a change of interval): one bucket up to the restart.
        return max(self.start_at, self.trial_end_at or self.start_at), first


def usage_events_ingest(
    *, events: list, at: datetime, with_events: bool = False
) -> list[EventResult]:
    """Check and store `events` (raw dicts as received), received at `at`; a result each,
    in order (with the stored event of each created one when `with_events`). Raises
    ValueError for more than MAX_BATCH events."""
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
        m.code: m
        for m in BillableMetric.objects.filter(code__in={e.code for _, e in parsed}).order_by()
    }
    latest = at + timedelta(seconds=settings.USAGE_FUTURE_TOLERANCE_SECONDS)
    accepted: list[Accepted] = []
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
            events_store(accepted=accepted, results=results, at=at, with_events=with_events)
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
    ids = {r: int(r) for r in references if r.isascii() and r.isdigit() and len(r) <= 18}
    found: dict[str, _Sub] = {}
    if ids:
        by_id = {sub.pk: sub for sub in _sub_rows(Q(pk__in=ids.values()))}
        found = {ref: by_id[pk] for ref, pk in ids.items() if pk in by_id}
    codes = references - found.keys()
    if codes:
        found.update((sub.external_id, sub) for sub in _sub_rows(Q(external_id__in=codes)))
    return found


def _sub_rows(condition: Q) -> list[_Sub]:
    rows = (
        Subscription.objects.filter(condition)
        .order_by()
        .annotate(
            has_percentage=Exists(
                Charge.objects.filter(plan_id=OuterRef("plan_id"), model=ChargeModel.PERCENTAGE)
            ),
            has_alerts=Exists(
                UsageAlert.objects.filter(subscription_id=OuterRef("pk"), active=True)
            ),
        )
    )
    return [_Sub(*values) for values in rows.values_list(*_SUB_FIELDS)]


def _accept(
    index: int,
    event: EventInput,
    subs: dict[str, _Sub],
    metrics: dict[str, BillableMetric],
    latest: datetime,
) -> Accepted:
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
    return Accepted(
        index=index,
        transaction_id=event.transaction_id,
        timestamp=ts,
        properties=event.properties,
        properties_json=event.properties_json,
        sub=sub,
        metric=metric,
        value=value,
        distinct=distinct,
        period=sub.period_of(ts),
    )
