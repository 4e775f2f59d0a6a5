"""The tax report: what the seller owes each tax authority over a period of tax points.

Rows per jurisdiction, tax name, rate and currency: the `taxes` rows of the invoices issued
(open, paid or written off) whose tax point (`Invoice.tax_date`) falls in the period, less the
`taxes` rows of the credit notes issued (not void) in the period. A credit note counts on its
customer's local day of issue (the day its PDF shows, as the tax point is the customer's local
day of finalization), in the period it is issued whatever the period of the invoice it
credits. Rows at rate 0 (reverse charge, exempt, not collected) are reported too: the sales
they cover belong in the returns as well.

Two queries whatever the number of documents; amounts are Decimal (the JSON rows hold
strings), summed per currency and never across currencies.
"""

import csv
import io
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing.models import CreditNote, CreditNoteStatus, Invoice, InvoiceStatus
from catalog.money import round_money

ZERO = Decimal(0)
REPORTED_STATUSES = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)
COLUMNS = (
    "jurisdiction",
    "name",
    "rate",
    "currency",
    "taxable_amount",
    "tax_amount",
    "invoices",
    "credit_notes",
)
# Every time zone's day lies within these hours of the UTC day of the same date.
DAY_MARGIN = timedelta(hours=15)


def _rate(value: str) -> Decimal:
    """ "19", "19.0000", "9.975" -> Decimal 19, 9.975 (no exponent: 100 stays 100)."""
    return Decimal(format(Decimal(value).normalize(), "f"))


class _Totals:
    def __init__(self) -> None:
        self.taxable = ZERO
        self.tax = ZERO
        self.invoices: set[int] = set()
        self.credit_notes: set[int] = set()


def _add(
    totals: dict[tuple, _Totals],
    rows: Iterable[dict],
    currency: str,
    pk: int,
    *,
    credit: bool,
) -> None:
    sign = -1 if credit else 1
    for row in rows:
        key = (currency, row["jurisdiction"], row["name"], _rate(row["rate"]))
        entry = totals.setdefault(key, _Totals())
        entry.taxable += sign * Decimal(row["taxable_amount"])
        entry.tax += sign * Decimal(row["amount"])
        (entry.credit_notes if credit else entry.invoices).add(pk)


def _in_period(day: date, date_from: date | None, date_to: date | None) -> bool:
    return (date_from is None or day >= date_from) and (date_to is None or day <= date_to)


def tax_report(*, date_from: date | None, date_to: date | None, currency: str | None) -> list[dict]:
    """Rows `{jurisdiction, name, rate, currency, taxable_amount, tax_amount, invoices,
    credit_notes}` of the period [`date_from`, `date_to`] (days, both included; None: no
    bound) in `currency` (None: every currency), sorted by currency, jurisdiction, name and
    rate. `invoices` and `credit_notes` count the documents in each row."""
    totals: dict[tuple, _Totals] = {}

    invoices = Invoice.objects.filter(status__in=REPORTED_STATUSES)
    if date_from is not None:
        invoices = invoices.filter(tax_date__gte=date_from)
    if date_to is not None:
        invoices = invoices.filter(tax_date__lte=date_to)
    if currency:
        invoices = invoices.filter(currency=currency)
    for pk, invoice_currency, taxes in invoices.values_list("pk", "currency", "taxes"):
        _add(totals, taxes or [], invoice_currency, pk, credit=False)

    notes = CreditNote.objects.filter(status=CreditNoteStatus.ISSUED)
    if date_from is not None:  # a day wider than the period: the local day is decided below
        start = datetime.combine(date_from, time.min, tzinfo=UTC) - DAY_MARGIN
        notes = notes.filter(created_at__gte=start)
    if date_to is not None:
        end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC) + DAY_MARGIN
        notes = notes.filter(created_at__lt=end)
    if currency:
        notes = notes.filter(currency=currency)
    fields = ("pk", "currency", "taxes", "created_at", "customer__timezone")
    for pk, note_currency, taxes, created_at, zone in notes.values_list(*fields):
        if _in_period(created_at.astimezone(ZoneInfo(zone)).date(), date_from, date_to):
            _add(totals, taxes or [], note_currency, pk, credit=True)

    return [
        {
            "jurisdiction": jurisdiction,
            "name": name,
            "rate": rate,
            "currency": row_currency,
            "taxable_amount": round_money(entry.taxable, row_currency),
            "tax_amount": round_money(entry.tax, row_currency),
            "invoices": len(entry.invoices),
            "credit_notes": len(entry.credit_notes),
        }
        for (row_currency, jurisdiction, name, rate), entry in sorted(totals.items())
    ]


def tax_report_csv(rows: list[dict]) -> str:
    """The report as CSV: a header row of the row keys, then one line per row (amounts in
    their currency's precision, rates without trailing zeros)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row["jurisdiction"],
                row["name"],
                format(row["rate"], "f"),
                row["currency"],
                format(row["taxable_amount"], "f"),
                format(row["tax_amount"], "f"),
                row["invoices"],
                row["credit_notes"],
            ]
        )
    return out.getvalue()
