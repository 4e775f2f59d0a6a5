"""Reads of the staff dashboard over a date range (the admin index, `?from=&to=`):
receivables ageing, MRR/ARR with its movements and deferred revenue per currency, payments
failed, fraud reviews waiting, bill-run failures and stuck orders.

Everything here only reads, and each function runs a fixed number of queries whatever the
number of rows (the ones per currency say so). Amounts stay per currency. Each figure comes
with the admin list filter that counts the same rows (`*_query`), so the dashboard can link
every number to the list behind it.

A range is days in UTC, both ends included: [first 00:00, last + 1 day 00:00). Monthly
figures (MRR movements, deferred revenue) are of the calendar months the range touches.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.http import QueryDict

from billing.models import BillRun, Payment, PaymentStatus
from catalog.money import round_money
from provisioning.models import FulfillmentStep, Order, OrderStatus, StepStatus
from reports.ledger.ageing import BUCKET_LABELS, BUCKETS, receivables_ageing
from reports.metrics.models import MrrSegment
from reports.metrics.selectors import mrr_at, mrr_movements_report
from reports.revenue.models import RevenueSchedule
from reports.revenue.schedules import Month
from reports.revenue.selectors import deferred_roll_forward

ZERO = Decimal(0)
DEFAULT_DAYS = 30
MAX_DAYS = 366
# An order received or in progress for longer than this is not progressing.
STUCK_AFTER = timedelta(hours=1)
BILL_RUN_TROUBLE = ("completed_with_failures", "failed", "abandoned")
OPEN_ORDERS = (OrderStatus.RECEIVED, OrderStatus.IN_PROGRESS)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass(frozen=True)
class DateRange:
    first: date
    last: date  # included

    @property
    def start(self) -> datetime:
        return midnight(self.first)

    @property
    def end(self) -> datetime:
        """The instant after the range (exclusive)."""
        return midnight(self.last + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def months(self) -> list[str]:
        months, month = [], Month.of(self.first)
        while month <= Month.of(self.last):
            months.append(str(month))
            month = month.next()
        return months

    def end_at(self, now: datetime) -> datetime:
        """The range's end, or `now` if the range ends today (figures "as of" the end)."""
        return min(self.end, now)


def default_range(now: datetime) -> DateRange:
    """The last 30 days, today (UTC) included."""
    today = now.astimezone(UTC).date()
    return DateRange(today - timedelta(days=DEFAULT_DAYS - 1), today)


def admin_query(**params: str) -> str:
    """An admin change list's query string ("status__exact=failed&…")."""
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query[key] = value
    return query.urlencode()


def _iso(at: datetime) -> str:
    return at.isoformat()


# Receivables
@dataclass(frozen=True)
class AgeingBucket:
    key: str
    label: str
    amount: Decimal
    query: str


@dataclass(frozen=True)
class CurrencyAgeing:
    currency: str
    buckets: list[AgeingBucket]
    total: Decimal
    query: str


def receivables_ageing_totals(*, as_of: date) -> list[CurrencyAgeing]:
    """Per currency, what is owed on open invoices by days past due as of `as_of` (see
    reports.ledger.ageing) with the invoice list filter of each bucket. One query.

    The "current" bucket's filter leaves out open invoices without a due date, which the
    ageing counts as current (the admin's filters cannot say "null or after")."""
    edge = {days: _iso(midnight(as_of - timedelta(days=days))) for days in (0, 30, 60, 90)}
    bounds = {
        "current": {"due_at__gte": edge[0]},
        "days_1_30": {"due_at__lt": edge[0], "due_at__gte": edge[30]},
        "days_31_60": {"due_at__lt": edge[30], "due_at__gte": edge[60]},
        "days_61_90": {"due_at__lt": edge[60], "due_at__gte": edge[90]},
        "over_90": {"due_at__lt": edge[90]},
    }
    issued_before = _iso(midnight(as_of + timedelta(days=1)))
    result = []
    for section in receivables_ageing(as_of=as_of):
        code = section["currency"]
        base = {
            "status__exact": "open",
            "currency__exact": code,
            "amount_due__gt": "0",
            "issued_at__lt": issued_before,
        }
        buckets = [
            AgeingBucket(
                key,
                BUCKET_LABELS[key],
                section["totals"][key],
                admin_query(**base, **bounds[key]),
            )
            for key in BUCKETS
        ]
        result.append(
            CurrencyAgeing(code, buckets, section["totals"]["total"], admin_query(**base))
        )
    return result


# Payments
@dataclass(frozen=True)
class CurrencyCount:
    currency: str
    count: int
    amount: Decimal
    query: str


def _per_currency(queryset, amount: str, query: dict[str, str]) -> list[CurrencyCount]:
    rows = (
        queryset.order_by()
        .values("currency")
        .annotate(n=Count("pk"), total=Sum(amount))
        .order_by("currency")
    )
    return [
        CurrencyCount(
            r["currency"],
            r["n"],
            round_money(Decimal(r["total"] or 0), r["currency"]),
            admin_query(**query, currency__exact=r["currency"]),
        )
        for r in rows
    ]


def payments_failed_in_range(*, period: DateRange) -> list[CurrencyCount]:
    """Payments that failed in the range: count and amount per currency. One query."""
    query = {
        "status__exact": PaymentStatus.FAILED,
        "failed_at__gte": _iso(period.start),
        "failed_at__lt": _iso(period.end),
    }
    payments = Payment.objects.filter(
        status=PaymentStatus.FAILED, failed_at__gte=period.start, failed_at__lt=period.end
    )
    return _per_currency(payments, "amount", query)


def payments_in_review() -> list[CurrencyCount]:
    """Payments held by a fraud check, waiting for a person to approve or fail them (now,
    whatever the range). One query."""
    payments = Payment.objects.filter(status=PaymentStatus.REVIEW)
    return _per_currency(payments, "amount", {"status__exact": PaymentStatus.REVIEW})


# Bill runs and orders
def bill_run_latest() -> BillRun | None:
    """One query."""
    return BillRun.objects.order_by("-pk").first()


@dataclass(frozen=True)
class BillRunFailures:
    runs: int
    customers_failed: int
    query: str


def bill_run_failures(*, period: DateRange) -> BillRunFailures:
    """Bill runs as of a time in the range that failed, were abandoned or completed with
    failed customers, and how many customers failed in them. One query."""
    row = BillRun.objects.filter(
        status__in=BILL_RUN_TROUBLE,
        as_of__gte=period.start,
        as_of__lt=period.end,
    ).aggregate(runs=Count("pk"), customers=Sum("customers_failed"))
    query = admin_query(
        status__in=",".join(BILL_RUN_TROUBLE),
        as_of__gte=_iso(period.start),
        as_of__lt=_iso(period.end),
    )
    return BillRunFailures(row["runs"], row["customers"] or 0, query)


@dataclass(frozen=True)
class OrdersStuck:
    not_progressing: int  # received or in progress for longer than STUCK_AFTER
    failed: int
    waiting: int  # open, with a step waiting for an operator (approval, prerequisite)
    not_progressing_query: str
    failed_query: str
    threshold: timedelta

    @property
    def threshold_label(self) -> str:
        minutes = int(self.threshold.total_seconds() // 60)
        if minutes % 60:
            return f"{minutes} minutes"
        hours = minutes // 60
        return "an hour" if hours == 1 else f"{hours} hours"


def orders_not_progressing(*, now: datetime, threshold: timedelta = STUCK_AFTER) -> OrdersStuck:
    """Orders that need an operator now: open (received or in progress) for longer than
    `threshold`, failed, and open with a step waiting for an operator. One query."""
    before = now - threshold
    waiting = FulfillmentStep.objects.filter(order=OuterRef("pk"), status=StepStatus.WAITING)
    counts = Order.objects.aggregate(
        stuck=Count("pk", filter=Q(status__in=OPEN_ORDERS, created_at__lt=before)),
        failed=Count("pk", filter=Q(status=OrderStatus.FAILED)),
        waiting=Count("pk", filter=Q(status__in=OPEN_ORDERS) & Q(Exists(waiting))),
    )
    return OrdersStuck(
        counts["stuck"],
        counts["failed"],
        counts["waiting"],
        admin_query(status__in=",".join(OPEN_ORDERS), created_at__lt=_iso(before)),
        admin_query(status__exact=OrderStatus.FAILED),
        threshold,
    )


# Revenue
def revenue_currencies() -> list[str]:
    """The currencies with MRR history or revenue booked. Two queries."""
    found: set[str] = set()
    for model in (MrrSegment, RevenueSchedule):
        found.update(model.objects.order_by().values_list("currency", flat=True).distinct())
    return sorted(found)


MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churn")


@dataclass(frozen=True)
class CurrencyRevenue:
    currency: str
    mrr_start: dict  # mrr_at at the range's start: {mrr, arr, subscriptions}
    mrr_end: dict  # … at its end
    movements: dict[str, Decimal]  # of the range's months
    months: list[dict]  # mrr_movements_report's months (month-end MRR for the chart)
    deferred: dict  # {opening, billed, recognized, reversed, closing} of the range's months


def revenue_in_range(*, period: DateRange, now: datetime) -> list[CurrencyRevenue]:
    """MRR and ARR at the range's start and end, the MRR movements and the deferred revenue
    roll-forward of the months the range touches, per currency. Two queries, then six per
    currency."""
    months = period.months
    first, last = Month.parse(months[0]), Month.parse(months[-1])
    result = []
    for code in revenue_currencies():
        report = mrr_movements_report(first=months[0], last=months[-1], currency=code)
        roll = deferred_roll_forward(currency=code, first=first, last=last)["months"]
        result.append(
            CurrencyRevenue(
                currency=code,
                mrr_start=mrr_at(at=period.start - timedelta(microseconds=1), currency=code),
                mrr_end=mrr_at(at=period.end_at(now) - timedelta(microseconds=1), currency=code),
                movements={
                    name: sum((row[name] for row in report["months"]), ZERO) for name in MOVEMENTS
                },
                months=report["months"],
                deferred={
                    "opening": roll[0]["opening"],
                    "billed": sum((row["billed"] for row in roll), ZERO),
                    "recognized": sum((row["recognized"] for row in roll), ZERO),
                    "reversed": sum((row["reversed"] for row in roll), ZERO),
                    "closing": roll[-1]["closing"],
                },
            )
        )
    return result
