"""Reads of the MRR history (`MrrSegment`): MRR and ARR at an instant, the MRR movements and
churn/retention rates of a range of months, the month-end series for charts.

One currency at a time; months are calendar months in UTC. A month's start is the MRR of
the last instant before its first day (the previous month's end), its end the MRR of the last
instant before the next month; so a subscription that ends at 00:00 on 1 February (a
cancellation at the end of a period) still counts at the end of January and churns in
February, and one that starts at that instant is February's. Each customer's MRR is rounded
to the currency before the movements are classified (see reports.metrics.movements).

Speed: every function runs one query (the movements' on PostgreSQL in a transaction of its
own, to set two planner settings for it). The movements aggregate each customer's MRR at the
month boundaries in SQL (conditional sums), then group the customers by what the movements
see of them (their MRR at each boundary, the months dunning ended them, whether they paid
before): the pure movements code runs once per distinct group — a few dozen to a few
thousand at 100,000 customers — and each figure counts its group's customers. Every figure
is a sum over customers and every rate a ratio of sums, so this equals running the pure code
customer by customer (the property test checks it). At 100,000 subscriptions on PostgreSQL:
one month ≈ 0.1 s, twelve ≈ 0.6 s.
"""

from dataclasses import asdict, fields
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import Count, Q, Sum

from catalog.money import currency_precision, round_money
from customers.models import Customer
from reports.metrics.models import MrrSegment
from reports.metrics.movements import (
    RATE_PLACES,
    CustomerSeries,
    MonthMovements,
    Rates,
    month_range,
    mrr_movements,
    mrr_rates,
)
from reports.metrics.mrr import MONTHS_PER_YEAR

ZERO = Decimal(0)
MAX_MONTHS = 120  # the SQL has two columns per month (PostgreSQL allows 1,664)
SQLITE_PLACES = Decimal("1E-10")  # MrrSegment.mrr's places: SQLite sums floats
MONTH_FIELDS = [f.name for f in fields(MonthMovements) if f.name != "month"]
AMOUNT_FIELDS = {f.name for f in fields(MonthMovements) if f.type in (Decimal, "Decimal")}
RATE_NAMES = [f.name for f in fields(Rates)]


def mrr_at(*, at: datetime, currency: str, customer: Customer | None = None) -> dict:
    """MRR (rounded once, to the currency), ARR (12 × the unrounded MRR, rounded once) and
    the number of subscriptions counting at instant `at` (of every customer or of one).
    One query."""
    segments = MrrSegment.objects.filter(currency=currency, start__lte=at).filter(
        Q(end__isnull=True) | Q(end__gt=at)
    )
    if customer is not None:
        segments = segments.filter(customer=customer)
    totals = segments.aggregate(total=Sum("mrr"), subscriptions=Count("id"))
    total = totals["total"] or ZERO
    return {
        "mrr": round_money(total, currency),
        "arr": round_money(total * MONTHS_PER_YEAR, currency),
        "subscriptions": totals["subscriptions"],
    }


def mrr_movements_report(
    *, first: str, last: str, currency: str, customer: Customer | None = None
) -> dict:
    """The movements of each month from `first` to `last` ("YYYY-MM", both included) and the
    rates over the range: {"currency", "months": [MonthMovements as dicts], "rates": {...}}
    (Decimals; rates None when their denominator is 0). One query. ValueError for a month
    that is not YYYY-MM, a range that ends before it starts or is longer than MAX_MONTHS."""
    months = month_range(first, last)
    if len(months) > MAX_MONTHS:
        raise ValueError(f"At most {MAX_MONTHS} months at once.")
    groups = _customer_groups(months, currency, customer)
    totals: dict[str, dict] = {}
    scaled = []
    for series, customers in groups:
        # Every figure is a sum over customers: a group of identical customers counts its
        # one customer's movements `customers` times.
        for month in mrr_movements([series], months, currency):
            row = totals.setdefault(month.month, _month_zero(month.month))
            for name in MONTH_FIELDS:
                row[name] += getattr(month, name) * customers
        scaled.append(_scaled(series, customers, months, currency))
    rows = [totals.get(month) or _month_zero(month) for month in months]
    rates = asdict(mrr_rates(scaled, months, currency)) if scaled else dict.fromkeys(RATE_NAMES)
    churned = sum(row["churned_customers"] for row in rows)
    rates["customer_churn"] = _rate(Decimal(churned), Decimal(rows[0]["customers_at_start"]))
    return {"currency": currency, "months": rows, "rates": rates}


def mrr_series(*, first: str, last: str, currency: str) -> list[dict]:
    """Per month from `first` to `last`: the month-end MRR and ARR and the month's movements,
    for charts. The same single query as `mrr_movements_report`."""
    report = mrr_movements_report(first=first, last=last, currency=currency)
    return [
        {
            **month,
            "mrr": month["end"],
            "arr": round_money(month["end"] * MONTHS_PER_YEAR, currency),
        }
        for month in report["months"]
    ]


def _scaled(
    series: CustomerSeries, customers: int, months: list[str], currency: str
) -> CustomerSeries:
    """A group of identical customers as one customer paying for all of them (for the MRR
    rates, ratios of sums): each MRR rounded first, as the movements round each customer's."""

    def times(value: Decimal) -> Decimal:
        return round_money(value, currency) * customers

    return CustomerSeries(
        customer=series.customer,
        month_end_mrr={month: times(series.month_end_mrr[month]) for month in months},
        opening_mrr=times(series.opening_mrr),
        paid_before=series.paid_before,
        involuntary_churn_months=series.involuntary_churn_months,
    )


def _month_zero(month: str) -> dict:
    """A month's figures, in MonthMovements' order, before any customer is added."""
    return {"month": month} | {name: ZERO if name in AMOUNT_FIELDS else 0 for name in MONTH_FIELDS}


def _rate(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    if denominator == 0:
        return None
    return (numerator / denominator).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def month_start(month: str) -> datetime:
    year, number = month.split("-")
    return datetime(int(year), int(number), 1, tzinfo=UTC)


def month_boundaries(months: list[str]) -> list[datetime]:
    """The first instant of each month, and of the month after the last."""
    last = month_start(months[-1])
    after = datetime(last.year + last.month // 12, last.month % 12 + 1, 1, tzinfo=UTC)
    return [month_start(month) for month in months] + [after]


def _customer_groups(
    months: list[str], currency: str, customer: Customer | None
) -> list[tuple[CustomerSeries, int]]:
    """The customers with some MRR at a month boundary, grouped by what the movements see of
    them (their MRR at every boundary, the months dunning ended them, whether they paid
    before): one series per group and how many customers it stands for."""
    bounds = month_boundaries(months)
    table = MrrSegment._meta.db_table
    q = connection.ops.quote_name
    start, end, mrr = q("start"), q("end"), q("mrr")
    customer_col, currency_col, churn = q("customer_id"), q("currency"), q("churn")
    adapt = connection.ops.adapt_datetimefield_value
    # Rounded to the currency, an MRR is above 0 from half a minor unit (a literal: SQLite
    # compares its float sums with numbers, not with text parameters).
    places = currency_precision(currency)
    half = format(Decimal(5).scaleb(-places - 1), "f")
    params: list = []
    columns = []
    for bound in bounds:
        total = (
            f"SUM(CASE WHEN {start} < %s AND ({end} IS NULL OR {end} >= %s) THEN {mrr} ELSE 0 END)"
        )
        columns.append(total)
        params += [adapt(bound), adapt(bound)]
    for low, high in zip(bounds, bounds[1:], strict=False):
        columns.append(
            f"MAX(CASE WHEN {churn} = 'involuntary' AND {end} >= %s AND {end} < %s "
            "THEN 1 ELSE 0 END)"
        )
        params += [adapt(low), adapt(high)]
    values = [f"v{k}" for k in range(len(bounds))]
    flags = [f"i{k}" for k in range(len(months))]
    where = f"{currency_col} = %s AND {start} < %s AND ({end} IS NULL OR {end} >= %s)"
    params += [currency, adapt(bounds[-1]), adapt(bounds[0])]
    if customer is not None:
        where += f" AND {customer_col} = %s"
        params.append(customer.pk)
    # Paid before its first month that starts at 0 and ends above it (that month is then a
    # reactivation, not new): a segment started before that month, even one that ended
    # between two month ends, which the month-end MRR does not show. Later months follow
    # from the MRR path itself. The first segment is read (through the (customer, start)
    # index) only for the customers with such a month.
    first_start = (
        f"(SELECT s2.{start} FROM {table} s2 WHERE s2.{customer_col} = per.customer "  # noqa: S608
        f"AND s2.{currency_col} = %s ORDER BY s2.{start} LIMIT 1)"
    )
    rises = []
    for k in range(1, len(values)):
        rises.append(
            f"WHEN v{k - 1} < {half} AND v{k} >= {half} "
            f"THEN CASE WHEN {first_start} < %s THEN 1 ELSE 0 END"
        )
    paid_params = [
        value for k in range(1, len(values)) for value in (currency, adapt(bounds[k - 1]))
    ]
    per = ", ".join(
        f"{column} AS {name}" for column, name in zip(columns, values + flags, strict=True)
    )
    some = " OR ".join(f"{name} >= {half}" for name in values)
    keys = ", ".join(values + flags + ["paid_before"])
    # Only quoted identifiers, generated names, placeholders and `half` are interpolated.
    sql = (
        f"WITH per AS (SELECT {customer_col} AS customer, {per} "  # noqa: S608
        f"FROM {table} WHERE {where} GROUP BY {customer_col}), "
        f"flagged AS (SELECT per.*, CASE {' '.join(rises)} ELSE 0 END AS paid_before "
        f"FROM per WHERE {some}) "
        f"SELECT {keys}, COUNT(*) FROM flagged GROUP BY {keys}"
    )
    params += paid_params
    rows = _fetch(sql, params)
    groups = []
    n = len(values)
    for index, row in enumerate(rows):
        amounts = [_decimal(value) for value in row[:n]]
        involuntary = row[n : n + len(flags)]
        series = CustomerSeries(
            customer=f"group {index + 1}",
            month_end_mrr=dict(zip(months, amounts[1:], strict=True)),
            opening_mrr=amounts[0],
            paid_before=bool(row[-2]),
            involuntary_churn_months=frozenset(
                month for month, flag in zip(months, involuntary, strict=True) if flag
            ),
        )
        groups.append((series, row[-1]))
    return groups


def _fetch(sql: str, params: list) -> list[tuple]:
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    with transaction.atomic(), connection.cursor() as cursor:
        # Its cost estimate (a subquery per customer) would have PostgreSQL compile it (JIT),
        # which takes longer than the query; and the customers' rows (one per customer, few
        # distinct) group faster in a hash table than sorted (0.6 s instead of 1 s for twelve
        # months of 100,000 customers). For this transaction only.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(sql, params)
        return cursor.fetchall()


def _decimal(value) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if value is None:
        return ZERO
    # SQLite: an int, or a float sum of 10-place amounts; back to those places.
    return Decimal(str(value)).quantize(SQLITE_PLACES, rounding=ROUND_HALF_UP)
