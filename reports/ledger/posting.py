"""Journal entries posted from billing's records (the consumer and the month close call
these). Each entry is built by the pure builders of reports/ledger/entries.py with account
roles, and stored with the codes configured in the admin (LedgerAccount) at posting time.
Every posting has a `source_key`: posting it again does nothing."""

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Sum

from billing.models import (
    BalanceTransaction,
    BalanceTransactionKind,
    CreditNote,
    Invoice,
    Payment,
    Refund,
)
from reports.ledger import entries as build
from reports.ledger.models import JournalEntry, JournalLine, LedgerAccount

ZERO = Decimal(0)
BT = BalanceTransactionKind


def account_codes() -> dict[str, str]:
    """Role → the code to post to (the contract's names unless set in the admin)."""
    codes = dict(build.DEFAULT_ACCOUNTS)
    codes.update(dict(LedgerAccount.objects.values_list("role", "code")))
    return codes


def ledger_accounts_ensure() -> None:
    """A row per role with the contract's code, for the admin to change (made by a
    migration; again after a database was emptied)."""
    for role, code in build.DEFAULT_ACCOUNTS.items():
        LedgerAccount.objects.get_or_create(
            role=role, defaults={"code": code, "name": role.replace("_", " ").capitalize()}
        )


def entries_save(
    postings: Iterable[tuple[build.Entry, str, int | None]],
    *,
    at: datetime,
    codes: Mapping[str, str] | None = None,
) -> list[JournalEntry]:
    """Store (entry built with role names, source_key, customer id) postings whose key is
    new, in bulk; the stored entries."""
    postings = list(postings)
    if not postings:
        return []
    codes = codes or account_codes()
    keys = [key for _, key, _ in postings]
    done = set(
        JournalEntry.objects.filter(source_key__in=keys).values_list("source_key", flat=True)
    )
    rows, built = [], []
    for entry, key, customer_id in postings:
        if key in done:
            continue
        done.add(key)
        built.append(entry)
        rows.append(
            JournalEntry(
                date=entry.date,
                kind=entry.kind,
                source=entry.source[:120],
                source_key=key,
                customer_id=customer_id,
                currency=entry.currency,
                memo=entry.memo[:300],
                posted_at=at,
            )
        )
    JournalEntry.objects.bulk_create(rows, batch_size=2000)
    JournalLine.objects.bulk_create(
        [
            JournalLine(
                entry=row,
                role=line.account,
                account=codes[line.account],
                debit=line.debit,
                credit=line.credit,
            )
            for row, entry in zip(rows, built, strict=True)
            for line in entry.lines
        ],
        batch_size=5000,
    )
    return rows


def _signed(kind: str, day: date, source: str, currency: str, amounts, memo: str = ""):
    amounts = {role: value for role, value in amounts.items() if value}
    if not amounts:
        return None
    return build.signed_entry(
        kind=kind, date=day, source=source, currency=currency, amounts=amounts, memo=memo
    )


def invoice_posting(invoice: Invoice, day: date):
    """Finalized: Dr receivable the total; Cr deferred revenue the net, Cr tax payable."""
    entry = _signed(
        "invoice",
        day,
        invoice.number or f"invoice {invoice.pk}",
        invoice.currency,
        {
            "accounts_receivable": invoice.total,
            "deferred_revenue": -(invoice.total - invoice.tax),
            "tax_payable": -invoice.tax,
        },
        memo=f"Invoice {invoice.number} finalized",
    )
    return entry and (entry, f"invoice:{invoice.pk}", invoice.customer_id)


def invoice_void_posting(invoice: Invoice, day: date, from_deferred: Decimal):
    """Voided: the invoice entry reversed; what was recognised already comes off revenue."""
    net = invoice.total - invoice.tax
    entry = _signed(
        "invoice",
        day,
        invoice.number or f"invoice {invoice.pk}",
        invoice.currency,
        {
            "deferred_revenue": from_deferred,
            "revenue": net - from_deferred,
            "tax_payable": invoice.tax,
            "accounts_receivable": -invoice.total,
        },
        memo=f"Invoice {invoice.number} voided",
    )
    return entry and (entry, f"void:{invoice.pk}", invoice.customer_id)


def credit_note_posting(note: CreditNote, day: date, from_deferred: Decimal):
    """Dr deferred revenue what the lines still deferred, Dr revenue the rest of the net,
    Dr tax payable; Cr receivable (reduction and refund), Cr customer balance."""
    net = note.total - note.tax
    entry = _signed(
        "credit_note",
        day,
        note.number,
        note.currency,
        {
            "deferred_revenue": from_deferred,
            "revenue": net - from_deferred,
            "tax_payable": note.tax,
            "accounts_receivable": -(note.total - note.credit_amount),
            "customer_balance": -note.credit_amount,
        },
        memo=f"Credit note {note.number} ({note.reason})",
    )
    return entry and (entry, f"credit_note:{note.pk}", note.customer_id)


def payment_posting(payment: Payment, day: date):
    """Dr cash; Cr receivable, Cr customer balance what was over."""
    over = (
        BalanceTransaction.objects.filter(payment=payment, kind=BT.OVERPAYMENT).aggregate(
            total=Sum("amount")
        )["total"]
        or ZERO
    )
    entry = build.payment_entry(
        date=day,
        source=payment.gateway_reference or f"payment {payment.pk}",
        currency=payment.currency,
        amount=payment.amount,
        overpayment=min(max(over, ZERO), payment.amount),
        memo=f"Payment {payment.pk} ({payment.source})",
    )
    return entry, f"payment:{payment.pk}", payment.customer_id


def marked_paid_posting(invoice: Invoice, amount: Decimal, day: date):
    """Paid outside any payment (a cheque recorded by hand): Dr cash, Cr receivable."""
    entry = _signed(
        "payment",
        day,
        invoice.number,
        invoice.currency,
        {"cash": amount, "accounts_receivable": -amount},
        memo=f"Invoice {invoice.number} marked paid",
    )
    return entry and (entry, f"marked_paid:{invoice.pk}", invoice.customer_id)


def refund_posting(refund: Refund, day: date):
    """Paid back: Dr receivable (where the credit note left it), Cr cash."""
    entry = build.refund_entry(
        date=day,
        source=refund.gateway_reference or f"refund {refund.pk}",
        currency=refund.currency,
        amount=refund.amount,
        memo=f"Refund of payment {refund.payment_id}",
    )
    return entry, f"refund:{refund.pk}", refund.payment.customer_id


# Balance entries of their own (a credit note's and an overpayment's are in those entries).
BALANCE_ROLES = {
    # + credit to the customer / − consumed: the role the other side posts to
    BT.INVOICE_APPLIED: "accounts_receivable",
    BT.INVOICE_CREDIT: "accounts_receivable",
    BT.ADJUSTMENT: "revenue",
    BT.SLA_CREDIT: "revenue",
}


def balance_posting(entry: BalanceTransaction, day: date, from_deferred: Decimal = ZERO):
    """Cr customer balance what it gains (Dr receivable for a negative invoice, Dr revenue
    for a goodwill or SLA credit, deferred revenue first for an SLA credit), or Dr it what
    it gives to an invoice (Cr receivable)."""
    other = BALANCE_ROLES.get(entry.kind)
    if other is None:
        return None
    amounts = {"customer_balance": -entry.amount, other: entry.amount - from_deferred}
    if from_deferred:
        amounts["deferred_revenue"] = from_deferred
    posted = _signed(
        "balance",
        day,
        f"balance {entry.pk}",
        entry.currency,
        amounts,
        memo=(entry.description or entry.get_kind_display())[:300],
    )
    return posted and (posted, f"balance:{entry.pk}", entry.customer_id)
