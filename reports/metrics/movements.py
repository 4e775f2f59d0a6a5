"""MRR movements per month and the churn and retention rates, for one currency.

Input, per customer: the MRR at the start of the first month (`opening_mrr`), the MRR at the
end of each month (`month_end_mrr`, "YYYY-MM" → MRR; a month left out means 0), whether the
customer paid before the first month (`paid_before`) and the months in which dunning ended
their last subscription (`involuntary_churn_months`). A month's start is the previous month's
end. Each MRR is rounded to the currency (`round_money`) before anything else, so every figure
is an exact sum of rounded amounts and, for every month,
    end = start + new + expansion + reactivation − contraction − churn.

Each customer's change over a month (start s → end e), ChartMogul's way:
  new           0 → e > 0, never paid before        (+e)
  reactivation  0 → e > 0, paid before               (+e)
  expansion     s > 0 → e > s                        (+(e − s))
  contraction   s > 0 → 0 < e < s                    (−(s − e)); cancelling one of several
                subscriptions, or a new discount, is a contraction
  churn         s > 0 → 0                            (−s): the last paid subscription ended
                (or a 100% discount made them free); involuntary when the month is in
                `involuntary_churn_months`, else voluntary.

Rates over a range of months (Decimal fractions, 0.0523 = 5.23 %, quantized to 4 places
ROUND_HALF_UP; None when their denominator is 0). "start" is the first month's start:
  customer_churn  = churn events in the range ÷ paying customers at start
  gross_mrr_churn = (churn + contraction) ÷ start MRR
  net_mrr_churn   = (churn + contraction − expansion − reactivation) ÷ start MRR
                    (the three above sum the monthly movements, as ChartMogul does; over
                    several months they include customers who joined within the range)
  nrr             = (start − churn − contraction + expansion) ÷ start MRR
  grr             = (start − churn − contraction) ÷ start MRR
                    (these two on the starting cohort: each customer paying at start is
                    compared between the first month's start and the last month's end, so
                    nrr = the cohort's MRR at the end ÷ its MRR at start, and customers who
                    joined later do not count)
For a single month, gross_mrr_churn = 1 − grr and the cohort and movement figures agree.
"""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from catalog.money import round_money

ZERO = Decimal(0)
RATE_PLACES = Decimal("0.0001")
AMOUNT_FIELDS = (
    "new",
    "expansion",
    "contraction",
    "reactivation",
    "voluntary_churn",
    "involuntary_churn",
)


@dataclass(frozen=True)
class CustomerSeries:
    """One customer's MRR in one currency over the months of a report."""

    customer: str
    month_end_mrr: Mapping[str, Decimal]
    opening_mrr: Decimal = ZERO
    paid_before: bool = False
    involuntary_churn_months: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class MonthMovements:
    month: str
    start: Decimal
    new: Decimal
    expansion: Decimal
    contraction: Decimal
    churn: Decimal  # voluntary_churn + involuntary_churn
    reactivation: Decimal
    end: Decimal
    voluntary_churn: Decimal
    involuntary_churn: Decimal
    customers_at_start: int
    customers_at_end: int
    new_customers: int
    reactivated_customers: int
    churned_customers: int


@dataclass(frozen=True)
class Rates:
    customer_churn: Decimal | None
    gross_mrr_churn: Decimal | None
    net_mrr_churn: Decimal | None
    nrr: Decimal | None
    grr: Decimal | None


def month_range(first: str, last: str) -> list[str]:
    """["2026-01", "2026-02", ...] from `first` to `last`, both included."""
    year, month = _parse_month(first)
    end = _parse_month(last)
    if end < (year, month):
        raise ValueError(f"The range ends ({last}) before it starts ({first}).")
    months = []
    while (year, month) <= end:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def movement_kind(start: Decimal, end: Decimal, *, paid_before: bool) -> str | None:
    """How one customer's MRR moved over a month: new, reactivation, expansion, contraction,
    churn, or None when it did not change."""
    if start == end:
        return None
    if start == 0:
        return "reactivation" if paid_before else "new"
    if end == 0:
        return "churn"
    return "expansion" if end > start else "contraction"


def mrr_movements(
    series: Iterable[CustomerSeries], months: Sequence[str], currency: str
) -> list[MonthMovements]:
    """The movements of each month in `months` (consecutive "YYYY-MM", oldest first)."""
    paths = _paths(series, months, currency)
    result = []
    for index, month in enumerate(months):
        amounts = dict.fromkeys(AMOUNT_FIELDS, ZERO)
        customers: Counter[str] = Counter()
        for one, path, paid_before in paths:
            start, end = path[index], path[index + 1]
            kind = movement_kind(start, end, paid_before=paid_before[index])
            if kind is None:
                continue
            if kind == "churn":
                involuntary = month in one.involuntary_churn_months
                kind = "involuntary_churn" if involuntary else "voluntary_churn"
            amounts[kind] += abs(end - start)
            customers[kind] += 1
        result.append(
            MonthMovements(
                month=month,
                start=sum((path[index] for _one, path, _paid in paths), ZERO),
                end=sum((path[index + 1] for _one, path, _paid in paths), ZERO),
                churn=amounts["voluntary_churn"] + amounts["involuntary_churn"],
                customers_at_start=sum(path[index] > 0 for _one, path, _paid in paths),
                customers_at_end=sum(path[index + 1] > 0 for _one, path, _paid in paths),
                new_customers=customers["new"],
                reactivated_customers=customers["reactivation"],
                churned_customers=customers["voluntary_churn"] + customers["involuntary_churn"],
                **amounts,
            )
        )
    return result


def mrr_rates(series: Iterable[CustomerSeries], months: Sequence[str], currency: str) -> Rates:
    """Churn and retention rates over `months` (see the module docstring)."""
    series = list(series)
    movements = mrr_movements(series, months, currency)
    start_mrr = movements[0].start
    lost = sum((m.churn + m.contraction for m in movements), ZERO)
    won = sum((m.expansion + m.reactivation for m in movements), ZERO)
    cohort_start = cohort_lost = cohort_expansion = ZERO
    for _one, path, _paid in _paths(series, months, currency):
        start, end = path[0], path[-1]
        if start == 0:
            continue
        cohort_start += start
        if end < start:
            cohort_lost += start - end  # churn (end 0) or contraction
        else:
            cohort_expansion += end - start
    return Rates(
        customer_churn=_rate(
            Decimal(sum(m.churned_customers for m in movements)),
            Decimal(movements[0].customers_at_start),
        ),
        gross_mrr_churn=_rate(lost, start_mrr),
        net_mrr_churn=_rate(lost - won, start_mrr),
        nrr=_rate(cohort_start - cohort_lost + cohort_expansion, cohort_start),
        grr=_rate(cohort_start - cohort_lost, cohort_start),
    )


def _paths(
    series: Iterable[CustomerSeries], months: Sequence[str], currency: str
) -> list[tuple[CustomerSeries, list[Decimal], list[bool]]]:
    """Per customer: the rounded MRR at each month boundary (len(months) + 1 values) and, per
    month, whether the customer had paid before that month started."""
    _check_months(months)
    known = set(months)
    paths = []
    for one in series:
        unknown = sorted(set(one.month_end_mrr) - known)
        if unknown:
            raise ValueError(f"Customer {one.customer}: months outside the report: {unknown}.")
        path = [_rounded(one.opening_mrr, currency, one.customer)]
        path += [_rounded(one.month_end_mrr.get(m, ZERO), currency, one.customer) for m in months]
        paid_before = []
        paid = one.paid_before
        for value in path[:-1]:
            paid = paid or value > 0
            paid_before.append(paid)
        paths.append((one, path, paid_before))
    return paths


def _rounded(value: Decimal, currency: str, customer: str) -> Decimal:
    value = round_money(value, currency)
    if value < 0:
        raise ValueError(f"Customer {customer}: MRR cannot be negative ({value}).")
    return value


def _rate(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    if denominator == 0:
        return None
    return (numerator / denominator).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def _check_months(months: Sequence[str]) -> None:
    if not months:
        raise ValueError("A report needs at least one month.")
    if list(months) != month_range(months[0], months[-1]):
        raise ValueError("Months must be consecutive, oldest first, as YYYY-MM.")


def _parse_month(key: str) -> tuple[int, int]:
    year, sep, month = key.partition("-")
    if not (sep and len(year) == 4 and len(month) == 2 and year.isdigit() and month.isdigit()):
        raise ValueError(f"A month is written YYYY-MM, not {key!r}.")
    if not 1 <= int(month) <= 12:
        raise ValueError(f"No month {key!r}.")
    return int(year), int(month)
