"""Reading the journal: entries by filter, as pure entries for the exports, and the trial
balance."""

from datetime import date
from decimal import Decimal

from django.db.models import QuerySet, Sum

from reports.ledger.entries import Entry, Line
from reports.ledger.models import JournalEntry, JournalLine

ZERO = Decimal(0)


def journal_entries(
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    customer_id: int | None = None,
    kind: str | None = None,
    currency: str | None = None,
) -> QuerySet[JournalEntry]:
    """Entries dated from `date_from` to `date_to` (both included), in posting order."""
    entries = JournalEntry.objects.select_related("customer").prefetch_related("lines")
    if date_from:
        entries = entries.filter(date__gte=date_from)
    if date_to:
        entries = entries.filter(date__lte=date_to)
    if customer_id:
        entries = entries.filter(customer_id=customer_id)
    if kind:
        entries = entries.filter(kind=kind)
    if currency:
        entries = entries.filter(currency=currency)
    return entries.order_by("pk")


def entry_out(row: JournalEntry) -> Entry:
    """A stored entry as the exports take it (its lines with the codes posted to)."""
    return Entry(
        date=row.date,
        kind=row.kind,
        source=row.source,
        currency=row.currency,
        lines=tuple(Line(line.account, line.debit, line.credit) for line in row.lines.all()),
        memo=row.memo,
        id=row.pk,
    )


def trial_balance(*, currency: str, through: date | None = None) -> list[dict]:
    """Per account (role and code) of one currency: debits, credits and the balance
    (debits − credits) of the entries dated through `through`; the balances sum to zero."""
    lines = JournalLine.objects.filter(entry__currency=currency)
    if through:
        lines = lines.filter(entry__date__lte=through)
    rows = (
        lines.values("role", "account")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
        .order_by("role", "account")
    )
    return [{**row, "balance": row["debit"] - row["credit"]} for row in rows]
