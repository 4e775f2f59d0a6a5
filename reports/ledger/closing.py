"""Closing the books: revenue recognition posted per month, usage accrued at month end,
and closed months locked.

A month closed after event #N of the billing log is closed for every event after #N: what
such an event posts is dated in the first month still open (the close records N, so a
rebuild dates everything as it was dated live)."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from billing.models import Subscription
from billing.usage.models import UsageAggregate
from billing.usage.pricing import in_free_trial, plan_charges, usage_priced
from catalog.money import round_money
from reports.ledger import entries as build
from reports.ledger.models import JournalEntry, MonthClose
from reports.ledger.posting import account_codes, entries_save
from reports.revenue.models import RecognitionLine, UsageAccrual
from reports.revenue.schedules import Month

ZERO = Decimal(0)


class CloseError(ValueError):
    """A month that cannot be closed (not over yet, closed already, before a closed one)."""


def month_end(month: date) -> date:
    """The last day of the month starting on `month`."""
    return Month.of(month).next().first_day - timedelta(days=1)


@dataclass(frozen=True)
class Closes:
    """The closed months with the last event read before each close."""

    rows: tuple[tuple[date, int], ...]

    @classmethod
    def load(cls) -> "Closes":
        return cls(tuple(MonthClose.objects.order_by("month").values_list("month", "after_event")))

    def before(self, month: date) -> "Closes":
        """Only the closes of months before `month`."""
        return Closes(tuple(row for row in self.rows if row[0] < month))

    def first_open_day(self, event_id: int | None = None) -> date | None:
        """The first day after the last month closed before event `event_id` (None: every
        close counts)."""
        closed = [m for m, after in self.rows if event_id is None or after < event_id]
        return Month.of(max(closed)).next().first_day if closed else None

    def dated(self, day: date, event_id: int | None = None) -> date:
        """`day`, or the first open day when its month was closed."""
        first_open = self.first_open_day(event_id)
        return max(day, first_open) if first_open else day


def recognition_post(*, through: date, at: datetime, closing: bool = False) -> int:
    """Post what the schedules recognise through the month starting `through` and the
    journal does not hold yet: one entry per invoice and month (a later correction of a
    month is one more entry), dated the month's last day or, in a closed month, the first
    open day. `closing`: as part of closing `through` (months closed later do not count).
    The number of entries posted."""
    closes = Closes.load()
    if closing:
        closes = closes.before(through)
    due = (
        RecognitionLine.objects.filter(month__lte=through)
        .exclude(amount=F("posted"))
        .values("invoice_id", "invoice__number", "customer_id", "currency", "month")
        .annotate(amount=Sum(F("amount") - F("posted")))
        .order_by("month", "invoice_id")
    )
    rows = [row for row in due if row["amount"]]
    if not rows:
        return 0
    earlier = set(
        JournalEntry.objects.filter(
            kind="recognition", source_key__in=[_key(row) for row in rows]
        ).values_list("source_key", flat=True)
    )
    postings = []
    for row in rows:
        key = _key(row)
        if key in earlier:  # a correction of a month posted before: numbered
            corrections = JournalEntry.objects.filter(source_key__startswith=f"{key}:").count()
            key = f"{key}:{corrections + 1}"
        amount, number = row["amount"], row["invoice__number"] or f"invoice {row['invoice_id']}"
        day = closes.dated(month_end(row["month"]))
        memo = f"Revenue recognised for {row['month']:%Y-%m}"
        amounts = {"deferred_revenue": amount, "revenue": -amount}
        entry = build.signed_entry(
            kind="recognition",
            date=day,
            source=number,
            currency=row["currency"],
            amounts=amounts,
            memo=memo,
        )
        postings.append((entry, key, row["customer_id"]))
    entries_save(postings, at=at)
    RecognitionLine.objects.filter(month__lte=through).exclude(amount=F("posted")).update(
        posted=F("amount")
    )
    return len(postings)


def _key(row: dict) -> str:
    return f"recognition:{row['invoice_id']}:{row['month']:%Y-%m}"


def _aggregate_accrual(
    aggregate: UsageAggregate, sub: Subscription, charges, cut: datetime, at: datetime
) -> Decimal:
    """What of one period's usage not invoiced yet was consumed before `cut` (usage inside a
    period is taken as spread evenly over the time so far). An invoice made before the close
    recognises its usage in the months consumed itself."""
    if in_free_trial(sub, aggregate.period_end):
        return ZERO
    metric_charges = [c for c in charges if c.metric_id == aggregate.metric_id]
    priced = usage_priced(metric_charges, {aggregate.metric_id: aggregate}, sub.currency)
    amount = sum((p.amount for p in priced), ZERO)
    if aggregate.billed_at is not None and aggregate.billed_at < cut:
        amount -= aggregate.billed_amount  # late usage: only the difference is unbilled
    share = min(cut, aggregate.period_end) - aggregate.period_start
    so_far = min(at, aggregate.period_end) - aggregate.period_start
    if amount <= 0 or share <= timedelta(0):
        return ZERO
    if so_far > share:
        amount = amount * Decimal(share.total_seconds()) / Decimal(so_far.total_seconds())
    return amount


def usage_accrue(*, month: date, at: datetime) -> list[UsageAccrual]:
    """Usage consumed by the end of the month starting `month` and not invoiced yet:
    accrued per customer and currency as revenue of that month (Dr unbilled receivable),
    reversed on the first day of the next month (the invoice recognises it then)."""
    cut = timezone.make_aware(
        datetime.combine(Month.of(month).next().first_day, datetime.min.time())
    )
    aggregates = list(
        UsageAggregate.objects.filter(period_start__lt=cut, unbilled=True).select_related(
            "subscription"
        )
    )
    charges = plan_charges(a.subscription.plan_id for a in aggregates)
    totals: dict[tuple[int, str], Decimal] = {}
    for aggregate in aggregates:
        sub = aggregate.subscription
        amount = _aggregate_accrual(aggregate, sub, charges.get(sub.plan_id, []), cut, at)
        if amount:
            key = (aggregate.customer_id, sub.currency)
            totals[key] = totals.get(key, ZERO) + amount
    accruals = [
        UsageAccrual(
            customer_id=customer_id,
            currency=currency,
            month=month,
            amount=round_money(amount, currency),
        )
        for (customer_id, currency), amount in sorted(totals.items())
        if round_money(amount, currency)
    ]
    UsageAccrual.objects.filter(month=month).delete()
    UsageAccrual.objects.bulk_create(accruals)
    accrual_post(accruals, at=at)
    return accruals


def accrual_post(accruals, *, at: datetime) -> None:
    """The accruals' entries: at month end, and reversed on the next month's first day."""
    postings = []
    for accrual in accruals:
        end = month_end(accrual.month)
        source = f"usage {accrual.month:%Y-%m}"
        for day, entry_build, suffix in (
            (end, build.usage_accrual_entry, ""),
            (end + timedelta(days=1), build.usage_accrual_reversal_entry, ":reversal"),
        ):
            entry = entry_build(
                date=day, source=source, currency=accrual.currency, amount=accrual.amount
            )
            key = f"usage_accrual:{accrual.customer_id}:{accrual.currency}:{accrual.month:%Y-%m}"
            postings.append((entry, key + suffix, accrual.customer_id))
    entries_save(postings, at=at, codes=account_codes())


def month_close(*, month: date, at: datetime, actor: str = "", consume=None) -> MonthClose:
    """Close the month starting `month`: read the event log to its end (`consume`, the
    reports' consumer, passed in by the caller), post recognition through it, accrue its
    unbilled usage, and lock it. Months close in order; a month must be over."""
    month = Month.of(month).first_day
    if Month.of(month).next().first_day > timezone.localdate(at):
        raise CloseError(f"{month:%Y-%m} is not over yet.")
    with transaction.atomic():
        last = MonthClose.objects.select_for_update().order_by("-month").first()
        if last is not None and last.month >= month:
            raise CloseError(
                f"{month:%Y-%m} is closed already "
                f"(the books are closed through {last.month:%Y-%m})."
            )
        after_event = consume(at=at) if consume else 0
        recognition_post(through=month, at=at, closing=True)
        usage_accrue(month=month, at=at)
        return MonthClose.objects.create(
            month=month, closed_at=at, closed_by=actor[:150], after_event=after_event
        )
