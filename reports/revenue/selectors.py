"""Recognition reports over the derived tables (schedules, recognition lines, reversals,
usage accruals): recognised, billed and deferred per month, the waterfall, the deferred
revenue roll-forward, and their CSV files.

Every figure is an SQL sum grouped by month (a handful of queries whatever the number of
schedules; the tables' (currency, month) and (currency, booking_month) indexes, or the
(customer, …) ones with a customer); nothing loops over rows in Python. One currency at a
time, never added across currencies. Nothing is rounded: the stored amounts are in the
currency's places already, so the sums are too (SQLite's float sums are brought back to
them, see `_sum`); the CSV files print them in those places.

The books as they stand: a schedule's lines are what it recognises in each month, past or
future (a credit rewrites its lines from its month on), so a month that has not ended yet
shows what its schedules give it.

Definitions (M a month):
- billed(M): the schedules booked in M (`RevenueSchedule.amount`, net of tax, before credits).
- recognised(M): the recognition lines of M (deferred → revenue), less the credits of M that
  came off revenue (`from_revenue`), plus the usage accrued at the end of M less that accrued
  at the end of M−1 (usage consumed in M is revenue of M; the accrual is reversed on the
  first day of M+1, when its invoice recognises it).
- deferred at the end of M: everything billed through M less the recognition lines and the
  credits off deferred revenue (`from_deferred`) through M. A line recognises over its own
  days, also before it is invoiced (in arrears, while those months are open; see
  reports/revenue/booking.py), so this is negative while more was recognised than billed
  (unbilled revenue).
"""

import csv
import io
import logging
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TextIO

from django.db.models import Q, QuerySet, Sum

from catalog.money import format_amount, round_money
from reports.revenue.models import RecognitionLine, RevenueReversal, RevenueSchedule, UsageAccrual
from reports.revenue.schedules import Month, check_roll_forward, waterfall

logger = logging.getLogger("reports.revenue")

ZERO = Decimal(0)
MAX_MONTHS = 120  # the longest range the API takes; the selectors themselves take any


def month_before(month: Month) -> Month:
    if month.month == 1:
        return Month(month.year - 1, 12)
    return Month(month.year, month.month - 1)


def months_between(first: Month, last: Month) -> list[Month]:
    """`first` to `last`, both included (ValueError if `last` is before `first`)."""
    if last < first:
        raise ValueError(f"The range ends ({last}) before it starts ({first}).")
    months, month = [], first
    while month <= last:
        months.append(month)
        month = month.next()
    return months


def _scoped(queryset: QuerySet, currency: str, customer_id: int | None) -> QuerySet:
    queryset = queryset.filter(currency=currency)
    if customer_id is not None:
        queryset = queryset.filter(customer_id=customer_id)
    return queryset.order_by()  # no default ordering in the GROUP BY


def _sum(total: Decimal | None, currency: str) -> Decimal:
    """An SQL sum in the currency's places: exact already on PostgreSQL; SQLite sums
    decimals as floats (55.890000000000001), which this undoes."""
    return round_money(total, currency) if total is not None else ZERO


def _by_month(queryset: QuerySet, month: str, amount: str, currency: str) -> dict[Month, Decimal]:
    """Sum(`amount`) GROUP BY `month` (a date field, the first of a month)."""
    rows = queryset.values(month).annotate(total=Sum(amount)).values_list(month, "total")
    return {Month.of(day): _sum(total, currency) for day, total in rows}


def _grid(
    queryset: QuerySet, booked: str, month: str, amount: str, currency: str
) -> dict[tuple[Month, Month], Decimal]:
    """Sum(`amount`) GROUP BY booking month, month."""
    rows = (
        queryset.values(booked, month)
        .annotate(total=Sum(amount))
        .values_list(booked, month, "total")
    )
    return {(Month.of(b), Month.of(m)): _sum(total, currency) for b, m, total in rows}


def _before(totals: dict[Month, Decimal], first: Month) -> Decimal:
    return sum((value for month, value in totals.items() if month < first), ZERO)


def recognition_report(
    *, currency: str, first: Month, last: Month, customer_id: int | None = None
) -> dict[str, Any]:
    """Billed, recognised and deferred at the end of each month from `first` to `last`:
    `{currency, months: [{month: "2026-01", billed, recognized, deferred_end}],
    total_recognized}` (Decimals). The deferred balance opens with everything before
    `first`. Four queries."""
    months = months_between(first, last)
    end = last.first_day
    billed = _by_month(
        _scoped(RevenueSchedule.objects, currency, customer_id).filter(booking_month__lte=end),
        "booking_month",
        "amount",
        currency,
    )
    lines = _by_month(
        _scoped(RecognitionLine.objects, currency, customer_id).filter(month__lte=end),
        "month",
        "amount",
        currency,
    )
    reversals = (
        _scoped(RevenueReversal.objects, currency, customer_id)
        .filter(month__lte=end)
        .values("month")
        .annotate(deferred=Sum("from_deferred"), revenue=Sum("from_revenue"))
        .values_list("month", "deferred", "revenue")
    )
    off_deferred: dict[Month, Decimal] = {}
    off_revenue: dict[Month, Decimal] = {}
    for day, deferred, revenue in reversals:
        off_deferred[Month.of(day)] = _sum(deferred, currency)
        off_revenue[Month.of(day)] = _sum(revenue, currency)
    accrued = _by_month(
        _scoped(UsageAccrual.objects, currency, customer_id).filter(
            month__gte=month_before(first).first_day, month__lte=end
        ),
        "month",
        "amount",
        currency,
    )

    deferred = _before(billed, first) - _before(lines, first) - _before(off_deferred, first)
    rows, total = [], ZERO
    for month in months:
        recognized = (
            lines.get(month, ZERO)
            - off_revenue.get(month, ZERO)
            + accrued.get(month, ZERO)
            - accrued.get(month_before(month), ZERO)
        )
        deferred += billed.get(month, ZERO) - lines.get(month, ZERO) - off_deferred.get(month, ZERO)
        rows.append(
            {
                "month": str(month),
                "billed": billed.get(month, ZERO),
                "recognized": recognized,
                "deferred_end": deferred,
            }
        )
        total += recognized
    return {"currency": currency, "months": rows, "total_recognized": total}


def revenue_waterfall(
    *,
    currency: str,
    first: Month,
    last: Month,
    customer_id: int | None = None,
    through: Month | None = None,
) -> dict[str, Any]:
    """Booking month × recognition month for the schedules booked from `first` to `last`
    (as Stripe's revenue waterfall), from their recognition lines:

    `{currency, through, months: ["2026-01", …] (every recognition month of those
    schedules), rows: [{booking_month, billed, recognized: {month: amount}, reversed,
    recognized_to_date, remaining}], totals: {billed, recognized, reversed,
    recognized_to_date, remaining}}`.

    `recognized_to_date` is what the lines recognise through `through` (default `last`),
    `remaining` what they recognise after it, `reversed` what credits took off deferred
    revenue (credits beyond it reduced revenue and are not in the lines); so for each row
    billed = recognized_to_date + remaining + reversed. Every booking month of the range
    has a row. Three queries."""
    booking_months = months_between(first, last)
    through = through or last
    start, end = first.first_day, last.first_day
    grid = _grid(
        _scoped(RecognitionLine.objects, currency, customer_id).filter(
            booking_month__gte=start, booking_month__lte=end
        ),
        "booking_month",
        "month",
        "amount",
        currency,
    )
    billed = _by_month(
        _scoped(RevenueSchedule.objects, currency, customer_id).filter(
            booking_month__gte=start, booking_month__lte=end
        ),
        "booking_month",
        "amount",
        currency,
    )
    reversed_ = _by_month(
        _scoped(RevenueReversal.objects, currency, customer_id).filter(
            schedule__booking_month__gte=start, schedule__booking_month__lte=end
        ),
        "schedule__booking_month",
        "from_deferred",
        currency,
    )
    cells: dict[Month, list[tuple[str, Decimal]]] = defaultdict(list)
    for (booked, month), amount in grid.items():
        cells[booked].append((str(month), amount))
    table = waterfall((str(booked), cells[booked]) for booked in booking_months)
    columns = sorted({key for row in table.values() for key in row})
    through_key = str(through)

    rows = []
    totals: dict[str, Any] = {
        "billed": ZERO,
        "recognized": dict.fromkeys(columns, ZERO),
        "reversed": ZERO,
        "recognized_to_date": ZERO,
        "remaining": ZERO,
    }
    for booked in booking_months:
        recognized = table.get(str(booked), {})
        row = {
            "booking_month": str(booked),
            "billed": billed.get(booked, ZERO),
            "recognized": recognized,
            "reversed": reversed_.get(booked, ZERO),
            "recognized_to_date": sum(
                (v for key, v in recognized.items() if key <= through_key), ZERO
            ),
            "remaining": sum((v for key, v in recognized.items() if key > through_key), ZERO),
        }
        rows.append(row)
        for key in ("billed", "reversed", "recognized_to_date", "remaining"):
            totals[key] += row[key]
        for key, value in recognized.items():
            totals["recognized"][key] += value
    return {
        "currency": currency,
        "through": through_key,
        "months": columns,
        "rows": rows,
        "totals": totals,
    }


def deferred_roll_forward(
    *, currency: str, first: Month, last: Month, customer_id: int | None = None
) -> dict[str, Any]:
    """The deferred revenue balance month by month: `{currency, months: [{month, opening,
    billed, recognized, reversed, closing, balanced, difference}], balanced}`.

    The movements are the month's bookings (`billed`), its recognition lines (deferred →
    revenue, `recognized`) and the credits off deferred revenue (`reversed`). The opening
    and closing balances are measured apart from them: at the end of M, what the schedules
    booked through M still recognise after M plus what credits dated after M took off them,
    less what schedules booked after M recognised through M (in arrears: recognised before
    billed, so the balance can be negative). So `check_roll_forward` (opening + billed −
    recognised − reversed = closing) tests that every schedule's lines and credits add up to
    what was billed. A month where it fails is `balanced: false` (its `difference` =
    expected − closing) and logged; the report's `balanced` is false if any month is.
    Three queries."""
    months = months_between(first, last)
    end = last.first_day
    billed = _by_month(
        _scoped(RevenueSchedule.objects, currency, customer_id).filter(booking_month__lte=end),
        "booking_month",
        "amount",
        currency,
    )
    # Booking month × month of the lines: the movements (month <= last) and the balances
    # (booked <= last) from one scan.
    lines = _grid(
        _scoped(RecognitionLine.objects, currency, customer_id).filter(
            Q(booking_month__lte=end) | Q(month__lte=end)
        ),
        "booking_month",
        "month",
        "amount",
        currency,
    )
    reversals = _grid(
        _scoped(RevenueReversal.objects, currency, customer_id).filter(
            Q(schedule__booking_month__lte=end) | Q(month__lte=end)
        ),
        "schedule__booking_month",
        "month",
        "from_deferred",
        currency,
    )

    # A cell (booked in b, moved in m) is deferred at the ends of the months b..m-1 or, when
    # recognised before it was booked (m < b, in arrears), unbilled (negative) at the ends
    # of the months m..b-1: +v from b on, -v from m on, either way.
    recognized: dict[Month, Decimal] = defaultdict(lambda: ZERO)
    reversed_: dict[Month, Decimal] = defaultdict(lambda: ZERO)
    change: dict[Month, Decimal] = defaultdict(lambda: ZERO)
    for grid, moved in ((lines, recognized), (reversals, reversed_)):
        for (booked, month), value in grid.items():
            moved[month] += value
            change[booked] += value
            change[month] -= value
    opening = sum((value for month, value in change.items() if month < first), ZERO)

    rows, balanced = [], True
    for month in months:
        row = {
            "month": str(month),
            "opening": opening,
            "billed": billed.get(month, ZERO),
            "recognized": recognized[month],
            "reversed": reversed_[month],
            "closing": opening + change[month],
        }
        try:
            check_roll_forward(
                row["opening"], row["billed"], row["recognized"], row["reversed"], row["closing"]
            )
            row["balanced"], row["difference"] = True, ZERO
        except ValueError as error:
            logger.error("%s %s: %s", currency, month, error)
            row["balanced"] = balanced = False
            row["difference"] = (
                row["opening"] + row["billed"] - row["recognized"] - row["reversed"]
            ) - row["closing"]
        rows.append(row)
        opening = row["closing"]
    return {"currency": currency, "months": rows, "balanced": balanced}


# -- CSV -----------------------------------------------------------------------------------
# Amounts in the currency's places ("1200.00"); months as YYYY-MM; rows end in CRLF.


def _csv(rows: Iterable[list], out: TextIO | None) -> str | None:
    target = out if out is not None else io.StringIO()
    writer = csv.writer(target, lineterminator="\r\n")
    writer.writerows(rows)
    return target.getvalue() if out is None else None  # type: ignore[attr-defined]


def recognition_report_csv(report: dict[str, Any], out: TextIO | None = None) -> str | None:
    """`recognition_report` as CSV: month, currency, billed, recognized, deferred_end. The
    text, or None when written to `out`."""
    currency = report["currency"]
    rows: list[list] = [["month", "currency", "billed", "recognized", "deferred_end"]]
    for row in report["months"]:
        rows.append(
            [row["month"], currency]
            + [
                format_amount(row[key], currency)
                for key in ("billed", "recognized", "deferred_end")
            ]
        )
    return _csv(rows, out)


def revenue_waterfall_csv(report: dict[str, Any], out: TextIO | None = None) -> str | None:
    """`revenue_waterfall` as CSV: booking_month, currency, billed, one column per
    recognition month, reversed, recognized_to_date, remaining; a last row `total`. The
    text, or None when written to `out`."""
    currency, columns = report["currency"], report["months"]
    tail = ("reversed", "recognized_to_date", "remaining")
    rows: list[list] = [["booking_month", "currency", "billed", *columns, *tail]]

    def line(label: str, row: dict) -> list:
        cells = [row["recognized"].get(key, ZERO) for key in columns]
        amounts = [row["billed"], *cells, *(row[key] for key in tail)]
        return [label, currency, *(format_amount(value, currency) for value in amounts)]

    rows += [line(row["booking_month"], row) for row in report["rows"]]
    rows.append(line("total", report["totals"]))
    return _csv(rows, out)


def deferred_roll_forward_csv(report: dict[str, Any], out: TextIO | None = None) -> str | None:
    """`deferred_roll_forward` as CSV: month, currency, opening, billed, recognized,
    reversed, closing, balanced (true/false). The text, or None when written to `out`."""
    currency = report["currency"]
    amounts = ("opening", "billed", "recognized", "reversed", "closing")
    rows: list[list] = [["month", "currency", *amounts, "balanced"]]
    for row in report["months"]:
        rows.append(
            [row["month"], currency]
            + [format_amount(row[key], currency) for key in amounts]
            + ["true" if row["balanced"] else "false"]
        )
    return _csv(rows, out)
