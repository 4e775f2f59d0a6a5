"""Credit notes and the customer balance.

A credit note credits an open or paid invoice, in full or per line, never beyond what is left
creditable (per line and in total, counting earlier notes). On an open invoice it first
reduces the amount due; what is left — money the customer already paid — is refunded
(recorded, and an event asks for it: gateways come later) or added to the customer balance.

The balance is an append-only ledger (`BalanceTransaction`) per customer and currency. It is
applied to the customer's next invoices when they are finalized (`invoice_apply_balance`),
and the negative part of an invoice that credits more than it charges becomes balance
(`invoice_settle_negative`). Both are hooks of `invoice_finalize`, run inside its
transaction on the locked invoice, which the caller saves.

Lock order: the invoice, then the customer (as `invoice_finalize` does).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet, Sum
from django_q.tasks import async_task

from api.errors import StateError
from billing.events.services import Actor, billing_event_record
from billing.invoicing import hooks
from billing.invoicing.models.credits import (
    BalanceTransaction,
    BalanceTransactionKind,
    CreditNote,
    CreditNoteLine,
    CreditNoteReason,
)
from billing.invoicing.models.invoices import Invoice, InvoiceLine, InvoiceStatus
from billing.invoicing.services.credit_taxes import credit_lines_tax, credit_note_taxes
from billing.invoicing.services.numbering import invoice_number_take
from catalog.money import format_amount
from catalog.validators import validate_money_places
from customers.models import Customer

BT = BalanceTransactionKind
CREDIT_NOTE_SERIES = "CN"
ZERO = Decimal(0)


# Reads
def customer_balance(customer: Customer, currency: str) -> Decimal:
    """The customer's balance in `currency`: what it may still spend on invoices."""
    total = BalanceTransaction.objects.filter(customer=customer, currency=currency).aggregate(
        total=Sum("amount")
    )["total"]
    return total or ZERO


def customer_balances(customer: Customer) -> dict[str, Decimal]:
    """Balance per currency, for every currency the customer ever had an entry in."""
    rows = (
        BalanceTransaction.objects.filter(customer=customer)
        .values("currency")
        .annotate(total=Sum("amount"))
        .order_by("currency")
    )
    return {row["currency"]: row["total"] for row in rows}


def balance_transaction_list(
    *, customer: Customer, currency: str | None = None
) -> QuerySet[BalanceTransaction]:
    entries = BalanceTransaction.objects.filter(customer=customer)
    if currency:
        entries = entries.filter(currency=currency)
    return entries.order_by("-created_at", "-pk")


@dataclass
class Creditable:
    """What is left to credit on an invoice: per invoice line (tax included) and in total."""

    total: Decimal
    by_line: dict[int, Decimal]


def invoice_creditable(invoice: Invoice) -> Creditable:
    credited_total = (
        CreditNote.objects.filter(invoice=invoice, status="issued").aggregate(total=Sum("total"))[
            "total"
        ]
        or ZERO
    )
    credited = dict(
        CreditNoteLine.objects.filter(
            credit_note__invoice=invoice,
            credit_note__status="issued",
            invoice_line__isnull=False,
        )
        .values_list("invoice_line")
        .annotate(total=Sum("amount"))
        .values_list("invoice_line", "total")
    )
    by_line = {
        line.pk: line.amount + line.tax_amount - credited.get(line.pk, ZERO)
        for line in invoice.lines.all()
    }
    return Creditable(total=invoice.total - credited_total, by_line=by_line)


# Writes
def balance_add(
    *,
    customer: Customer,
    currency: str,
    amount: Decimal,
    kind: str,
    at: datetime,
    description: str,
    invoice: Invoice | None = None,
    credit_note: CreditNote | None = None,
) -> BalanceTransaction:
    return BalanceTransaction.objects.create(
        customer=customer,
        currency=currency,
        amount=amount,
        kind=kind,
        invoice=invoice,
        credit_note=credit_note,
        description=description[:300],
        created_at=at,
    )


def _field_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def _check_precision(field: str, amount: Decimal, currency: str) -> None:
    validate_money_places(amount, currency, field)


def _note_lines(
    invoice: Invoice, creditable: Creditable, lines: list[dict] | None
) -> list[CreditNoteLine]:
    """Unsaved credit note lines: given ones checked against what is left per line, or (None)
    the rest of every invoice line — a full credit of what is left."""
    invoice_lines = {line.pk: line for line in invoice.lines.all()}
    if lines is None:
        if creditable.total <= 0:
            raise _field_error("invoice", "Nothing is left to credit on it.", "nothing_to_credit")
        return [
            CreditNoteLine(invoice_line=line, description=line.description, amount=left)
            for pk, line in invoice_lines.items()
            if (left := creditable.by_line[pk]) != 0
        ]
    if not lines:
        raise _field_error("lines", "Give at least one line, or none for a full credit.", "empty")
    note_lines, seen = [], set()
    for index, spec in enumerate(lines):
        line, amount = spec.get("invoice_line"), spec.get("amount")
        if isinstance(line, InvoiceLine):
            line = line.pk
        field = f"lines.{index}"
        if line not in invoice_lines:
            raise _field_error(f"{field}.line", "No such line on this invoice.", "does_not_exist")
        if line in seen:
            raise _field_error(f"{field}.line", "This line is given twice.", "duplicate")
        seen.add(line)
        if not isinstance(amount, Decimal) or amount <= 0:
            raise _field_error(f"{field}.amount", "Give an amount above 0.", "min_value")
        _check_precision(f"{field}.amount", amount, invoice.currency)
        left = creditable.by_line[line]
        if amount > left:
            raise _field_error(
                f"{field}.amount",
                f"At most {format_amount(max(left, ZERO), invoice.currency)} is left to credit "
                "on this line.",
                "exceeds_creditable",
            )
        invoice_line = invoice_lines[line]
        note_lines.append(
            CreditNoteLine(
                invoice_line=invoice_line, description=invoice_line.description, amount=amount
            )
        )
    return note_lines


@transaction.atomic
def credit_note_issue(
    *,
    invoice: Invoice,
    at: datetime,
    reason: str,
    lines: list[dict] | None = None,
    refund: Decimal = ZERO,
    memo: str = "",
    actor: Actor = None,
) -> CreditNote:
    """Credit an open or paid invoice. `lines`: [{invoice_line (a line or its id), amount}]
    (amounts tax included), or None for everything left. `refund` is the part to pay back;
    it can only come out of what the customer paid (not out of an open amount due)."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    customer = Customer.objects.select_for_update().get(pk=invoice.customer_id)
    if reason not in CreditNoteReason.values:
        raise _field_error(
            "reason", f"One of: {', '.join(CreditNoteReason.values)}.", "invalid_choice"
        )
    if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.PAID):
        raise StateError(
            f"Only open or paid invoices can be credited; this one is {invoice.status}.",
            code="invoice_not_creditable",
            field="invoice",
        )
    if not isinstance(refund, Decimal) or refund < 0:
        raise _field_error("refund", "The refund must not be negative.", "min_value")
    _check_precision("refund", refund, invoice.currency)
    creditable = invoice_creditable(invoice)
    note_lines = _note_lines(invoice, creditable, lines)
    total = sum((line.amount for line in note_lines), ZERO)
    if total > creditable.total:
        raise _field_error(
            "lines",
            f"At most {format_amount(max(creditable.total, ZERO), invoice.currency)} is left to "
            "credit on this invoice.",
            "exceeds_creditable",
        )
    if total <= 0:
        raise _field_error("lines", "Nothing is left to credit on it.", "nothing_to_credit")

    open_before = invoice.status == InvoiceStatus.OPEN
    reduction = min(total, max(invoice.amount_due, ZERO)) if open_before else ZERO
    paid_part = total - reduction
    if refund > paid_part:
        raise _field_error(
            "refund",
            f"At most {format_amount(paid_part, invoice.currency)} of this credit note can be "
            "refunded (what the customer paid); the rest reduces the amount due.",
            "exceeds_paid",
        )
    credit_lines_tax(invoice, note_lines, creditable.by_line)
    note = CreditNote(
        customer=customer,
        invoice=invoice,
        currency=invoice.currency,
        number=invoice_number_take(series=CREDIT_NOTE_SERIES, at=at),
        reason=reason,
        memo=memo,
        total=total,
        amount_due_reduction=reduction,
        refund_amount=refund,
        credit_amount=paid_part - refund,
        created_at=at,
    )
    credit_note_taxes(note, note_lines)
    note.save()
    for position, line in enumerate(note_lines):
        line.credit_note, line.position = note, position
    CreditNoteLine.objects.bulk_create(note_lines)

    if reduction:
        invoice.amount_due -= reduction
    if note.credit_amount:
        balance_add(
            customer=customer,
            currency=note.currency,
            amount=note.credit_amount,
            kind=BT.CREDIT_NOTE,
            at=at,
            description=f"Credit note {note.number} for invoice {invoice.number}",
            invoice=invoice,
            credit_note=note,
        )
    payload = {
        "number": note.number,
        "invoice": invoice.number,
        "currency": note.currency,
        "reason": reason,
        "total": format_amount(note.total, note.currency),
        "amount_due_reduction": format_amount(note.amount_due_reduction, note.currency),
        "refund_amount": format_amount(note.refund_amount, note.currency),
        "credit_amount": format_amount(note.credit_amount, note.currency),
    }
    billing_event_record(
        kind="credit_note.issued", subject=note, at=at, actor=actor, payload=payload
    )
    if refund:
        # Paid back through the gateways after commit (billing.payments.services.refunds).
        transaction.on_commit(
            partial(
                async_task, "billing.payments.tasks.credit_note_refund_task", credit_note_id=note.pk
            )
        )
        billing_event_record(
            kind="credit_note.refund_requested",
            subject=note,
            at=at,
            actor=actor,
            payload={
                "number": note.number,
                "invoice": invoice.number,
                "amount": format_amount(refund, note.currency),
                "currency": note.currency,
            },
        )
    if open_before and invoice.amount_due == 0:
        mark_paid_keeping_amount_paid(invoice, at)
        invoice.save()
        billing_event_record(
            kind="invoice.paid",
            subject=invoice,
            at=at,
            actor=actor,
            payload={
                "number": invoice.number,
                "amount_paid": format_amount(invoice.amount_paid, invoice.currency),
                "credited": format_amount(note.amount_due_reduction, invoice.currency),
                "by": "credit_note",
            },
        )
        hooks.invoice_paid.send(sender=Invoice, invoice=invoice, at=at, actor=actor)
    else:
        invoice.save()
    return note


def mark_paid_keeping_amount_paid(invoice: Invoice, at: datetime) -> None:
    """`mark_paid`, but `amount_paid` stays what was actually paid: an amount due that a
    credit note or a negative total took to 0 was not paid."""
    paid = invoice.amount_paid
    invoice.mark_paid(at=at)
    invoice.amount_paid = paid


def invoice_apply_balance(*, invoice: Invoice, at: datetime, actor: Actor = None) -> Decimal:
    """Pay what the customer's balance can of the (locked, just finalized) invoice; the
    caller saves the invoice. Returns the amount applied. A fully covered invoice is marked
    paid (the caller records `invoice.paid`, as `invoice_finalize` does for paid invoices)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoice_apply_balance must run inside the caller's transaction.")
    if invoice.status != InvoiceStatus.OPEN or invoice.amount_due <= 0:
        return ZERO
    if BalanceTransaction.objects.filter(invoice=invoice, kind=BT.INVOICE_APPLIED).exists():
        return ZERO  # applied already (a rerun)
    customer = Customer.objects.select_for_update().get(pk=invoice.customer_id)
    applied = min(customer_balance(customer, invoice.currency), invoice.amount_due)
    if applied <= 0:
        return ZERO
    balance_add(
        customer=customer,
        currency=invoice.currency,
        amount=-applied,
        kind=BT.INVOICE_APPLIED,
        at=at,
        description=f"Applied to invoice {invoice.number}",
        invoice=invoice,
    )
    invoice.amount_paid += applied
    invoice.amount_due -= applied
    billing_event_record(
        kind="invoice.balance_applied",
        subject=invoice,
        at=at,
        actor=actor,
        payload={
            "number": invoice.number,
            "amount": format_amount(applied, invoice.currency),
            "currency": invoice.currency,
        },
    )
    if invoice.amount_due == 0:
        mark_paid_keeping_amount_paid(invoice, at)
    return applied


def invoice_settle_negative(*, invoice: Invoice, at: datetime, actor: Actor = None) -> Decimal:
    """An invoice that credits more than it charges (total < 0): the negative part becomes
    customer balance, the amount due 0, and the invoice is marked paid (nothing to collect;
    `amount_paid` stays 0). The caller saves. Returns the amount moved to the balance."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoice_settle_negative must run inside the caller's transaction.")
    if invoice.status != InvoiceStatus.OPEN or invoice.amount_due >= 0:
        return ZERO
    if BalanceTransaction.objects.filter(invoice=invoice, kind=BT.INVOICE_CREDIT).exists():
        return ZERO
    customer = Customer.objects.select_for_update().get(pk=invoice.customer_id)
    credit = -invoice.amount_due
    balance_add(
        customer=customer,
        currency=invoice.currency,
        amount=credit,
        kind=BT.INVOICE_CREDIT,
        at=at,
        description=f"Credit from invoice {invoice.number}",
        invoice=invoice,
    )
    invoice.amount_due = ZERO
    billing_event_record(
        kind="invoice.credited_to_balance",
        subject=invoice,
        at=at,
        actor=actor,
        payload={
            "number": invoice.number,
            "amount": format_amount(credit, invoice.currency),
            "currency": invoice.currency,
        },
    )
    mark_paid_keeping_amount_paid(invoice, at)
    return credit


@transaction.atomic
def balance_adjust(
    *,
    customer: Customer,
    currency: str,
    amount: Decimal,
    description: str,
    at: datetime,
    actor: Actor = None,
) -> BalanceTransaction:
    """A manual entry by staff (goodwill credit, correction). The balance never goes below 0."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if not isinstance(amount, Decimal) or amount == 0:
        raise _field_error("amount", "Give an amount other than 0.", "invalid")
    _check_precision("amount", amount, currency)
    if not description.strip():
        raise _field_error("description", "Say why the balance changes.", "required")
    if customer_balance(customer, currency) + amount < 0:
        raise _field_error("amount", "The balance would go below 0.", "insufficient_balance")
    entry = balance_add(
        customer=customer,
        currency=currency,
        amount=amount,
        kind=BT.ADJUSTMENT,
        at=at,
        description=description,
    )
    billing_event_record(
        kind="balance.adjusted",
        subject=entry,
        at=at,
        actor=actor,
        customer=customer,
        payload={
            "amount": format_amount(amount, currency),
            "currency": currency,
            "description": description,
        },
    )
    return entry
