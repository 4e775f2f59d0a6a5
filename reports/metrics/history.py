"""MRR history: each subscription's MRR over time as `MrrSegment` rows, rebuilt from its
timeline — the billing event log and billing's dated rows — never from today's row alone.

What the timeline is made of, per subscription:
- Status over time, from its events (`subject_type` "billing.subscription"; every
  subscription event carries the status it left the subscription in, `payload["status"]`).
  An event takes effect at its `occurred_at`; events dated in the past (a backdated start's
  `activated`, a `canceled` at the period end recorded by the next bill run) are applied in
  the order they were recorded: the status at instant t is that of the latest recorded event
  (highest id) among those that occurred by t. Before its first event a subscription is
  `pending`. A subscription without events (rows made without billing's services) gets a
  timeline from its row: trialing until `trial_end_at`, then its status, ended at `ended_at`.
- Plan and quantity over time, from `subscription.changed` (`from_plan`, `from_quantity`,
  `plan`, `quantity`; effective at `occurred_at`: now for an immediate change, the period
  boundary for one scheduled for the period end). The span after the last change (or the
  whole life, without changes) is on the subscription's own plan and quantity, the
  authority on "now".
  Plan versions share a code and events name the code only. A plan version in use never
  changes its terms (catalog makes a new version), and billing only puts a subscription on
  the latest version of a code; so a code is resolved to the version that was the latest
  when it was chosen: the highest version created by the `recorded_at` of the event that
  chose it (`subscription.created`; an immediate change; for a change at the period end, the
  `subscription.change_scheduled` that asked for it). If none was created by then (clocks
  moved in tests), the subscription's own plan when the code is its code, else the oldest
  version. A change that keeps the code keeps the version (a quantity or add-on change); a
  move between versions of one code is seen only when it is the last change (the
  subscription's plan then is the new version). Catalog edits a plan in place when no
  subscription is on it *now*, so a version a subscription left may have changed price
  since: its past spans then show the new price (billing keeps no copy of old terms).
- Recurring add-ons (`SubscriptionAddOn` rows of add-ons whose interval is not one_time),
  from `started_at` until `ended_at`, at their quantity (a new quantity is a new row).
- Recurring discounts (`Discount` rows whose coupon is `forever` or `repeating`; a `once`
  coupon never reduces MRR): the subscription's own and the customer's (customer-wide ones
  apply to each of the customer's subscriptions in their currency: a percent as invoicing
  applies it, a fixed amount once per billing interval of the subscription, as if each were
  invoiced on its own — which overstates a fixed customer-wide discount when several
  subscriptions share one invoice; fixed coupons in another currency do not apply). A
  discount counts from `start_at`; `end_at` is the invoice that used its last period, so on a
  plan paid in advance it runs on to the end of the billing period containing `end_at`
  (the period that invoice paid for), in arrears it stops at `end_at`.

MRR at each instant where anything changes is `reports.metrics.mrr.subscription_mrr` of the
terms then (active and past_due count; trialing, pending, incomplete, paused, suspended and
ended count 0). Consecutive spans of equal MRR are merged; spans of 0 are not stored. A
subscription whose first invoice was never paid (`incomplete_expired`) has no history: the
minutes it was active before its first charge failed were never paid for.

Churn, "at the end of the paid period":
- A cancellation at the period end is recorded (by the bill run) as `subscription.canceled`
  dated at the period end: MRR runs to it.
- An immediate cancellation ends the subscription at `at` (`ended_at`). With proration
  (the default) the unused part of what was billed in advance is credited, so the paid
  period ends at `at` too. Without proration (`proration_total` 0 in the event) nothing is
  credited: the customer paid through `billed_through`, so MRR runs on until then (its
  add-ons ended with it too). A cancellation by dunning (involuntary) ends at once: that
  period was not paid. Refunds made later by hand do not move the end.
- `churn` is set on a segment after which the subscription's MRR drops to 0 because it
  ended (`Subscription.churn`: voluntary or involuntary; voluntary when blank) or because
  dunning suspended it (involuntary). Other drops (a pause, a 100% discount) leave it blank:
  the movements count them as voluntary churn when they are a customer's last MRR.

Writing: `subscription_mrr_refresh` (one subscription) and `subscriptions_mrr_refresh` (a
consumer's page: a fixed number of queries per 2,000) delete and insert a subscription's
segments in one transaction; `mrr_rebuild_all` rebuilds every one (100,000 subscriptions with
their events, add-ons and discounts in about 12 s on PostgreSQL). Renewals and SLA credits
(QUIET_KINDS) are not read: they change no status or terms.
"""

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from itertools import groupby
from operator import itemgetter

from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, DateTimeField, F, Q, Value, When
from django.db.models.functions import Cast

from billing.models import (
    BillingEvent,
    CouponDuration,
    Discount,
    Subscription,
    SubscriptionAddOn,
    SubscriptionStatus,
)
from billing.subscriptions import periods
from catalog.models import AddOnInterval, Plan
from reports.metrics import mrr as pure
from reports.metrics.models import MrrSegment

ZERO = Decimal(0)
S = SubscriptionStatus
SUBJECT_TYPE = "billing.subscription"
ENDED = frozenset({S.CANCELED, S.EXPIRED, S.INCOMPLETE_EXPIRED})
REBUILD_BATCH = 2000
# Events that change nothing the history reads (a renewal keeps the status it finds).
QUIET_KINDS = ("subscription.renewed", "subscription.sla_credited", "subscription.email_sent")
SUBSCRIPTION_FIELDS = (
    "customer",
    "plan",
    "currency",
    "quantity",
    "status",
    "start_at",
    "trial_end_at",
    "ended_at",
    "billed_through",
    "churn",
    "created_at",
    # the schedule, for discounts ending with a period
    "timezone",
    "interval",
    "interval_count",
    "start_date",
    "anchor_date",
    "anchor_day",
)
# The events whose `recorded_at` tells which plan version was chosen.
PLAN_CHOSEN = ("subscription.created", "subscription.changed", "subscription.change_scheduled")
ROW_COLUMNS = ("subscription_id", "customer_id", "currency", "start", "end", "mrr", "churn")
# PostgreSQL advisory lock keys: a refresh holds the namespace shared and its subscription
# exclusively; a full rebuild holds the namespace exclusively.
LOCK_NAMESPACE = 0x4D5252  # "MRR"


@dataclass(frozen=True)
class Event:
    """What the history needs of one billing event of the subscription (`recorded_at` is
    read only for the events that choose a plan version, PLAN_CHOSEN; else None)."""

    id: int
    kind: str
    occurred_at: datetime
    recorded_at: datetime | None
    payload: dict


@dataclass(frozen=True)
class Span:
    """The subscription counted `mrr` (unrounded) from `start` until `end` (None: open)."""

    start: datetime
    end: datetime | None
    mrr: Decimal
    churn: str = ""


# -- Building one subscription's history (no queries) --------------------------------------


def subscription_spans(
    *,
    sub: Subscription,
    events: Sequence[Event],
    addon_rows: Iterable[SubscriptionAddOn],
    discounts: Iterable[Discount],
    plan_versions: dict[str, list[Plan]],
    cache: dict | None = None,
) -> list[Span]:
    """The MRR segments of `sub` (its plan loaded) from its events (any order), its add-on
    rows (add-on loaded), the discounts that may apply to it (coupon loaded) and the plan
    versions by code (oldest first). `cache` memoises MRR by terms across subscriptions."""
    if sub.status == S.INCOMPLETE_EXPIRED:
        return []  # its first invoice was never paid: it never counted
    events = sorted(events, key=lambda e: e.id)
    statuses, canceled_shift = _status_timeline(sub, events)
    terms_times, terms = _terms_timeline(sub, events, plan_versions)
    addons = _addon_spans(sub, addon_rows, canceled_shift)
    offs = _discount_spans(sub, discounts)
    times = {t for t, _ in statuses} | set(terms_times)
    times.update(t for start, end, _ in addons for t in (start, end) if t is not None)
    times.update(t for start, end, _ in offs for t in (start, end) if t is not None)
    if not times:
        return []
    status_times = [t for t, _ in statuses]
    cache = {} if cache is None else cache
    raw: list[tuple[datetime, Decimal]] = []
    for moment in sorted(times):
        index = bisect_right(status_times, moment) - 1
        status = statuses[index][1] if index >= 0 else S.PENDING
        plan, quantity = terms[bisect_right(terms_times, moment)]
        addon_key = tuple(key for start, end, key in addons if _covers(start, end, moment))
        off_key = tuple(key for start, end, key in offs if _covers(start, end, moment))
        raw.append((moment, _mrr(sub, status, plan, quantity, addon_key, off_key, cache)))
    return _merged(raw, statuses, sub)


def _covers(start: datetime, end: datetime | None, moment: datetime) -> bool:
    return start <= moment and (end is None or moment < end)


def _mrr(sub, status, plan, quantity, addon_key, off_key, cache) -> Decimal:
    if status not in pure.COUNTED_STATUSES:
        return ZERO
    key = (sub.currency, plan.pk, quantity, status, addon_key, off_key)
    value = cache.get(key)
    if value is None:
        value = pure.subscription_mrr(
            pure.Terms(
                amount=plan.amount,
                currency=sub.currency,
                interval=plan.interval,
                interval_count=plan.interval_count,
                quantity=quantity,
                status=status,
                recurring_addons=tuple(
                    pure.RecurringAddon(amount=amount, interval=interval, quantity=units)
                    for amount, interval, units in addon_key
                ),
                discounts=tuple(pure.Discount(kind=kind, value=value) for kind, value in off_key),
            )
        )
        cache[key] = value
    return value


def _status_timeline(
    sub: Subscription, events: Sequence[Event]
) -> tuple[list[tuple[datetime, str]], tuple[datetime, datetime] | None]:
    """[(from, status)] in time order, and (ended_at, paid_through) when an immediate
    cancellation without credit runs on to the end of what was paid."""
    with_status = [e for e in events if isinstance(e.payload.get("status"), str)]
    if not with_status:
        return _status_from_row(sub), None
    shift = _paid_through(sub, with_status[-1])
    effective = []
    for event in with_status:
        moment = event.occurred_at
        if shift is not None and event is with_status[-1]:
            moment = shift[1]
        effective.append((moment, event.id, event.payload["status"]))
    effective.sort()
    timeline: list[tuple[datetime, str]] = []
    best_id, best_status = 0, None
    for position, (moment, event_id, status) in enumerate(effective):
        if event_id > best_id:
            best_id, best_status = event_id, status
        last_of_instant = position + 1 == len(effective) or effective[position + 1][0] != moment
        if last_of_instant and (not timeline or timeline[-1][1] != best_status):
            timeline.append((moment, best_status))
    return timeline, shift


def _status_from_row(sub: Subscription) -> list[tuple[datetime, str]]:
    """A timeline from the row alone (no events): trialing until the trial's end, then its
    status (active once ended), ended at `ended_at`."""
    timeline: list[tuple[datetime, str]] = []
    if sub.status == S.PENDING:
        return [(sub.start_at, S.PENDING)]
    trial_end = sub.trial_end_at
    if trial_end and trial_end > sub.start_at:
        timeline.append((sub.start_at, S.TRIALING))
        if sub.status == S.TRIALING:
            return timeline
    live = S.ACTIVE if sub.status in ENDED else sub.status
    timeline.append((trial_end if timeline else sub.start_at, live))
    if sub.status in ENDED and sub.ended_at is not None:
        timeline.append((max(sub.ended_at, timeline[-1][0]), sub.status))
    return timeline


def _paid_through(sub: Subscription, last: Event) -> tuple[datetime, datetime] | None:
    """(ended_at, billed_through) for an immediate, voluntary cancellation that credited
    nothing while the subscription was billed beyond it; else None."""
    payload = last.payload
    if (
        last.kind != "subscription.canceled"
        or sub.status != S.CANCELED
        or payload.get("at_period_end") is not False
        or payload.get("churn") == "involuntary"
        or sub.churn == "involuntary"
        or sub.billed_through is None
        or sub.billed_through <= last.occurred_at
    ):
        return None
    try:
        credited = Decimal(str(payload["proration_total"]))
    except (KeyError, InvalidOperation):
        return None
    if credited != 0:
        return None
    return last.occurred_at, sub.billed_through


def _terms_timeline(
    sub: Subscription, events: Sequence[Event], plan_versions: dict[str, list[Plan]]
) -> tuple[list[datetime], list[tuple[Plan, int]]]:
    """The change instants and the (plan, quantity) before, between and after them:
    len(terms) == len(times) + 1."""
    changes = sorted(
        (e for e in events if e.kind == "subscription.changed"),
        key=lambda e: (e.occurred_at, e.id),
    )
    if not changes:
        return [], [(sub.plan, sub.quantity)]
    created = next((e for e in events if e.kind == "subscription.created"), None)
    chosen_at = created.recorded_at if created else sub.created_at
    first = changes[0].payload
    plan = _resolve(sub, plan_versions, first.get("from_plan"), chosen_at)
    terms = [(plan, _quantity(first.get("from_quantity"), sub.quantity))]
    scheduled = [e for e in events if e.kind == "subscription.change_scheduled"]
    for change in changes[:-1]:
        code = change.payload.get("plan")
        if code != plan.code:
            plan = _resolve(sub, plan_versions, code, _chosen_at(change, scheduled, code))
        terms.append((plan, _quantity(change.payload.get("quantity"), sub.quantity)))
    terms.append((sub.plan, sub.quantity))
    return [e.occurred_at for e in changes], terms


def _chosen_at(change: Event, scheduled: Sequence[Event], code) -> datetime:
    """When the plan a change put the subscription on was chosen."""
    if change.payload.get("when") == "period_end":
        asked = [e for e in scheduled if e.id < change.id and e.payload.get("to_plan") == code]
        if asked:
            return asked[-1].recorded_at
    return change.recorded_at


def _resolve(
    sub: Subscription, plan_versions: dict[str, list[Plan]], code, at: datetime | None
) -> Plan:
    versions = plan_versions.get(code) if isinstance(code, str) else None
    if not versions:
        return sub.plan
    if len(versions) == 1:
        return versions[0]
    existing = [plan for plan in versions if at is not None and plan.created_at <= at]
    if existing:
        return existing[-1]
    return sub.plan if sub.plan.code == code else versions[0]


def _quantity(value, default: int) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
    )


def _addon_spans(sub, rows, shift) -> list[tuple[datetime, datetime | None, tuple]]:
    spans = []
    for row in rows:
        addon = row.addon
        if addon.interval == AddOnInterval.ONE_TIME or addon.currency != sub.currency:
            continue
        end = row.ended_at
        if shift is not None and end == shift[0]:
            end = shift[1]
        if end is not None and end <= row.started_at:
            continue
        spans.append((row.started_at, end, (addon.amount, addon.interval, row.quantity)))
    return spans


def _discount_spans(sub, discounts) -> list[tuple[datetime, datetime | None, tuple]]:
    spans = []
    for discount in discounts:
        if discount.subscription_id not in (None, sub.pk):
            continue
        if discount.subscription_id is None and discount.customer_id != sub.customer_id:
            continue
        coupon = discount.coupon
        if coupon.duration == CouponDuration.ONCE:
            continue
        if coupon.kind == "fixed":
            if coupon.currency != sub.currency or not coupon.amount_off:
                continue
            key = ("fixed", coupon.amount_off)
        elif coupon.kind == "percent" and coupon.percent_off:
            key = ("percent", coupon.percent_off)
        else:
            continue
        end = _discount_end(sub, discount.end_at)
        if end is not None and end <= discount.start_at:
            continue
        spans.append((discount.start_at, end, key))
    return spans


def _discount_end(sub: Subscription, end_at: datetime | None) -> datetime | None:
    """A discount ends with the invoice of its last period; paid in advance, that invoice
    paid for the period containing it."""
    if end_at is None or not sub.plan.pay_in_advance:
        return end_at
    try:
        return periods.period_containing(sub.schedule, end_at).end
    except ValueError:  # before the schedule starts (or out of range): as recorded
        return end_at


def _merged(
    raw: list[tuple[datetime, Decimal]], statuses: list[tuple[datetime, str]], sub
) -> list[Span]:
    """Spans from (instant, MRR from then on): equal neighbours merged, zeros left out, and
    the churn of each span the subscription's MRR drops to 0 after."""
    runs: list[list] = []  # [start, end, mrr]
    for index, (moment, value) in enumerate(raw):
        end = raw[index + 1][0] if index + 1 < len(raw) else None
        if runs and runs[-1][1] == moment and runs[-1][2] == value:
            runs[-1][1] = end
        elif value > 0:
            runs.append([moment, end, value])
    status_times = [t for t, _ in statuses]
    spans = []
    for index, (start, end, value) in enumerate(runs):
        churn = ""
        followed = index + 1 < len(runs) and runs[index + 1][0] == end
        if end is not None and not followed:
            position = bisect_right(status_times, end) - 1
            status = statuses[position][1] if position >= 0 else ""
            if status in ENDED:
                churn = sub.churn or "voluntary"
            elif status == S.SUSPENDED:
                churn = "involuntary"
        spans.append(Span(start=start, end=end, mrr=value, churn=churn))
    return spans


# -- Writing -------------------------------------------------------------------------------


def subscription_mrr_refresh(*, subscription_id: int, at: datetime) -> None:
    """Rebuild the MRR segments of one subscription from its whole timeline (delete and
    insert, in one transaction). `at` is when the refresh runs; the history does not depend
    on it (it covers everything the log and rows hold, future boundaries included). A
    subscription that no longer exists loses its segments."""
    subscriptions_mrr_refresh(subscription_ids=[subscription_id], at=at)


def subscriptions_mrr_refresh(*, subscription_ids: Iterable[int], at: datetime) -> int:
    """`subscription_mrr_refresh` of many subscriptions at once (a page of the consumer), in
    one transaction and a fixed number of queries per batch of REBUILD_BATCH; the number of
    segments written."""
    ids = sorted(set(subscription_ids))
    written = 0
    with transaction.atomic():
        _lock(ids)
        for offset in range(0, len(ids), REBUILD_BATCH):
            chunk = ids[offset : offset + REBUILD_BATCH]
            MrrSegment.objects.filter(subscription_id__in=chunk).delete()
            subs = list(_subscriptions().filter(pk__in=chunk).order_by("pk"))
            if not subs:
                continue
            events = _events_grouped(_events().filter(subject_id__in=[str(pk) for pk in chunk]))
            codes = {sub.plan_id for sub in subs}
            plans = Plan.objects.filter(
                Q(code__in=_codes(events))
                | Q(code__in=Plan.objects.filter(pk__in=codes).values("code"))
            )
            customers = {sub.customer_id for sub in subs}
            inputs = _Inputs(
                events=dict(events),
                addons=_addons_grouped(_addons().filter(subscription_id__in=chunk)),
                discounts=_discounts_grouped(
                    _discounts().filter(
                        Q(subscription_id__in=chunk)
                        | Q(subscription__isnull=True, customer_id__in=customers)
                    )
                ),
                plan_versions=_plan_versions(plans),
            )
            written += _insert(_segments_of(subs, inputs, cache={}))
    return written


def mrr_rebuild_all(*, at: datetime, batch_size: int = REBUILD_BATCH) -> int:
    """Rebuild every subscription's MRR history from scratch, in one transaction (readers see
    the old history until it commits); the number of segments written. Plans, recurring
    add-ons and discounts are read at once; subscriptions in batches by id, their events in
    one stream in the same order (sorted by PostgreSQL, not probed per batch); segments are
    written with COPY on PostgreSQL. Then the segments' statistics are refreshed (ANALYZE),
    for the plans of the reports that follow."""
    cache: dict = {}
    written = 0
    with transaction.atomic():
        _lock(None)
        MrrSegment.objects.all().delete()
        inputs = _Inputs(
            events={},
            addons=_addons_grouped(_addons()),
            discounts=_discounts_grouped(_discounts()),
            plan_versions=_plan_versions(Plan.objects.all()),
        )
        stream = _events_grouped(
            _events()
            .annotate(subject=Cast("subject_id", BigIntegerField()))
            .order_by("subject", "id"),
            stream=True,
        )
        pending = next(stream, None)
        last = 0
        while True:
            subs = list(_subscriptions().filter(pk__gt=last).order_by("pk")[:batch_size])
            if not subs:
                break
            last = subs[-1].pk
            inputs.events = {}
            while pending is not None and pending[0] <= last:
                inputs.events[pending[0]] = pending[1]
                pending = next(stream, None)
            written += _insert(_segments_of(subs, inputs, cache=cache))
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {MrrSegment._meta.db_table}")
    return written


@dataclass
class _Inputs:
    """What the history of some subscriptions is built from, by subscription id (events,
    add-on rows), by subscription id or, for customer-wide ones, ("customer", id)
    (discounts), and plan versions by code."""

    events: dict[int, list[Event]]
    addons: dict[int, list[SubscriptionAddOn]]
    discounts: dict
    plan_versions: dict[str, list[Plan]]


def _subscriptions():
    """Subscriptions with the fields the history reads (not their other timestamps)."""
    return Subscription.objects.only(*SUBSCRIPTION_FIELDS)


def _events():
    """The subscription events the history reads; `recorded_at` only where it resolves a
    plan version (it is read for nothing else)."""
    return (
        BillingEvent.objects.filter(subject_type=SUBJECT_TYPE)
        .exclude(kind__in=QUIET_KINDS)
        .annotate(
            chosen_at=Case(
                When(kind__in=PLAN_CHOSEN, then=F("recorded_at")),
                default=Value(None),
                output_field=DateTimeField(),
            )
        )
    )


def _events_grouped(events, *, stream: bool = False):
    """(subscription id, [Event] oldest first) pairs: a dict of all of them, or, with
    `stream`, an iterator over a query already ordered by subscription."""
    rows = events.values_list("subject_id", "id", "kind", "occurred_at", "chosen_at", "payload")
    if stream:
        return (
            (int(subject), [_event(row) for row in group])
            for subject, group in groupby(rows.iterator(chunk_size=5000), key=itemgetter(0))
        )
    found: dict[int, list[Event]] = defaultdict(list)
    for row in rows.order_by("id"):
        found[int(row[0])].append(_event(row))
    return found


def _event(row) -> Event:
    _subject, event_id, kind, occurred_at, chosen_at, payload = row
    return Event(
        event_id, kind, occurred_at, chosen_at, payload if isinstance(payload, dict) else {}
    )


def _codes(events: dict[int, list[Event]]) -> set[str]:
    return {
        code
        for found in events.values()
        for event in found
        for key in ("plan", "from_plan", "to_plan")
        if isinstance(code := event.payload.get(key), str)
    }


def _addons():
    return SubscriptionAddOn.objects.exclude(addon__interval=AddOnInterval.ONE_TIME).select_related(
        "addon"
    )


def _addons_grouped(rows) -> dict[int, list[SubscriptionAddOn]]:
    found = defaultdict(list)
    for row in rows:
        found[row.subscription_id].append(row)
    return found


def _discounts():
    return Discount.objects.exclude(coupon__duration=CouponDuration.ONCE).select_related("coupon")


def _discounts_grouped(rows) -> dict:
    found: dict = defaultdict(list)
    for discount in rows:
        if discount.subscription_id is None:
            found[("customer", discount.customer_id)].append(discount)
        else:
            found[discount.subscription_id].append(discount)
    return found


def _segments_of(subs: list[Subscription], inputs: _Inputs, *, cache: dict) -> list[tuple]:
    """The segments (ROW_COLUMNS tuples) of `subs`, whose inputs are in `inputs`."""
    plans_by_pk = {plan.pk: plan for found in inputs.plan_versions.values() for plan in found}
    rows = []
    for sub in subs:
        sub.plan = plans_by_pk[sub.plan_id]
        spans = subscription_spans(
            sub=sub,
            events=inputs.events.get(sub.pk, ()),
            addon_rows=inputs.addons.get(sub.pk, ()),
            discounts=[
                *inputs.discounts.get(sub.pk, ()),
                *inputs.discounts.get(("customer", sub.customer_id), ()),
            ],
            plan_versions=inputs.plan_versions,
            cache=cache,
        )
        rows += _rows(sub, spans)
    return rows


def _rows(sub: Subscription, spans: Iterable[Span]) -> list[tuple]:
    return [
        (sub.pk, sub.customer_id, sub.currency, span.start, span.end, span.mrr, span.churn)
        for span in spans
    ]


def _insert(rows: list[tuple]) -> int:
    """Write segments (tuples in ROW_COLUMNS order): COPY on PostgreSQL, else bulk_create."""
    if rows and connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        columns = ", ".join(quote(name) for name in ROW_COLUMNS)
        sql = f"COPY {quote(MrrSegment._meta.db_table)} ({columns}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    elif rows:
        MrrSegment.objects.bulk_create(
            [MrrSegment(**dict(zip(ROW_COLUMNS, row, strict=True))) for row in rows],
            batch_size=REBUILD_BATCH,
        )
    return len(rows)


def _plan_versions(plans) -> dict[str, list[Plan]]:
    versions: dict[str, list[Plan]] = defaultdict(list)
    for plan in plans.order_by("code", "version"):
        versions[plan.code].append(plan)
    return dict(versions)


def _lock(subscription_ids: list[int] | None) -> None:
    """On PostgreSQL, keep refreshes and a full rebuild (None) from interleaving their
    deletes and inserts: a refresh holds the namespace shared and its subscriptions
    exclusively (in id order), a rebuild the namespace exclusively. SQLite has one writer."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if subscription_ids is None:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [LOCK_NAMESPACE])
            return
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, 0)", [LOCK_NAMESPACE])
        keys = sorted({pk % 2_000_000_000 for pk in subscription_ids})
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, key)) "
            "FROM (SELECT unnest(%s::int[]) AS key ORDER BY 1) AS keys",
            [LOCK_NAMESPACE + 1, keys],
        )
