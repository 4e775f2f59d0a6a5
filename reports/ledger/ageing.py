"""Receivables ageing: what customers owe on open invoices, by how long it is past due, per
currency.

Read from billing's open invoices (`amount_due`, `due_at`), not from the journal: the journal's
receivable is one balance per customer, while ageing needs each invoice's due date.

Days past due, as of a day D: D − the invoice's due day (the calendar day of `due_at` in the
site's time zone, UTC). The buckets:
    current      not due yet, or due on D (0 days or fewer; an invoice without a due date too)
    days_1_30    1 to 30 days past due
    days_31_60   31 to 60
    days_61_90   61 to 90
    over_90      91 days or more
So an invoice due 30 days before D is in 1–30, one due 31 days before is in 31–60.

"As of D": the invoices issued by the end of D that are open now, at what they still owe now.
Payments, credits and write-offs made after D are not added back (billing keeps an invoice's
amount due as it stands, not its history), so a past D shows today's open amounts aged at D.
Written-off (uncollectible), void and paid invoices are not receivables here.

One query whatever the number of invoices (conditional sums grouped by currency and
customer); amounts rounded to the currency once per customer and bucket; currencies are never
added together.
"""

import csv
import io
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q, Sum
from django.utils import timezone

from billing.models import Invoice, InvoiceStatus
from catalog.money import format_amount, round_money

ZERO = Decimal(0)
BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "over_90")
BUCKET_LABELS = {
    "current": "Current",
    "days_1_30": "1–30 days",
    "days_31_60": "31–60 days",
    "days_61_90": "61–90 days",
    "over_90": "Over 90 days",
}
CSV_COLUMNS = ("as_of", "currency", "customer", "customer_name", *BUCKETS, "total")


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time()))


def bucket_conditions(as_of: date) -> dict[str, Q]:
    """Each bucket as a condition on `due_at` (see the module docstring)."""
    start = {days: _midnight(as_of - timedelta(days=days)) for days in (0, 30, 60, 90)}
    return {
        "current": Q(due_at__isnull=True) | Q(due_at__gte=start[0]),
        "days_1_30": Q(due_at__lt=start[0], due_at__gte=start[30]),
        "days_31_60": Q(due_at__lt=start[30], due_at__gte=start[60]),
        "days_61_90": Q(due_at__lt=start[60], due_at__gte=start[90]),
        "over_90": Q(due_at__lt=start[90]),
    }


def receivables_ageing(
    *, as_of: date, currency: str | None = None, customer_id: int | None = None
) -> list[dict[str, Any]]:
    """Per currency (alphabetical): `{currency, as_of, customers: [{customer_id, customer
    (external_id), name, current, days_1_30, days_31_60, days_61_90, over_90, total}],
    totals: {the buckets and total}}`; customers by external id; only currencies with
    something due."""
    invoices = Invoice.objects.filter(
        status=InvoiceStatus.OPEN,
        amount_due__gt=0,
        issued_at__lt=_midnight(as_of + timedelta(days=1)),
    )
    if currency:
        invoices = invoices.filter(currency=currency)
    if customer_id is not None:
        invoices = invoices.filter(customer_id=customer_id)
    sums = {
        name: Sum("amount_due", filter=condition, default=ZERO)
        for name, condition in bucket_conditions(as_of).items()
    }
    rows = (
        invoices.order_by()
        .values("currency", "customer_id", "customer__external_id", "customer__name")
        .annotate(**sums)
        .order_by("currency", "customer__external_id", "customer_id")
    )
    report: dict[str, dict[str, Any]] = {}
    for row in rows:
        code = row["currency"]
        amounts = {name: round_money(Decimal(row[name] or 0), code) for name in BUCKETS}
        amounts["total"] = sum(amounts.values(), ZERO)
        section = report.setdefault(
            code,
            {
                "currency": code,
                "as_of": as_of,
                "customers": [],
                "totals": dict.fromkeys((*BUCKETS, "total"), ZERO),
            },
        )
        section["customers"].append(
            {
                "customer_id": row["customer_id"],
                "customer": row["customer__external_id"],
                "name": row["customer__name"],
                **amounts,
            }
        )
        for name, amount in amounts.items():
            section["totals"][name] += amount
    return list(report.values())


def receivables_ageing_csv(report: list[dict[str, Any]]) -> str:
    """`receivables_ageing` as CSV: as_of, currency, customer, customer_name, the five
    buckets, total; one row per customer, then a `total` row per currency. Amounts in the
    currency's places ("1200.00"); rows end in CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for section in report:
        code, day = section["currency"], section["as_of"].isoformat()
        amounts = (*BUCKETS, "total")
        for row in section["customers"]:
            cells = [format_amount(row[name], code) for name in amounts]
            writer.writerow([day, code, row["customer"], row["name"], *cells])
        totals = [format_amount(section["totals"][name], code) for name in amounts]
        writer.writerow([day, code, "total", "", *totals])
    return out.getvalue()
