"""Invoices: pending lines, drafts, totals, gapless numbers, finalization."""

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import transaction
from django_q.tasks import async_task

from api.errors import StateError
from billing.events.services import Actor, billing_event_record
from billing.invoicing import hooks
from billing.invoicing.models.invoices import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from billing.invoicing.services.credits import invoice_apply_balance, invoice_settle_negative
from billing.invoicing.services.discounts import invoices_discount, is_discount_line
from billing.invoicing.services.numbering import invoice_number_take
from billing.invoicing.services.references import payment_reference_for
from billing.invoicing.services.taxes import TAX_LINE_FIELDS, InvoiceTaxer, tax_point
from billing.tax.services import seller_details
from catalog.money import format_amount
from customers.models import Customer, InvoiceDelivery, TaxIdStatus


def pending_lines(*, customer: Customer, currency: str | None = None):
    lines = InvoiceLine.objects.filter(customer=customer, invoice__isnull=True)
    if currency:
        lines = lines.filter(currency=currency)
    return lines.order_by("pk")


def invoice_totals(invoice: Invoice, lines: list[InvoiceLine]) -> None:
    """Discount = the coupon lines (as a positive number); subtotal is before them; the tax
    is what `InvoiceTaxer.invoice` set (per line or per rate)."""
    invoice.discount = -sum((line.amount for line in lines if is_discount_line(line)), Decimal(0))
    invoice.subtotal = sum((line.amount for line in lines), Decimal(0)) + invoice.discount
    invoice.total = invoice.subtotal - invoice.discount + invoice.tax
    invoice.amount_due = invoice.total - invoice.amount_paid


def invoices_create(
    *,
    drafts: list[tuple[Customer, str, list[InvoiceLine]]],
    at: datetime,
    bill_run=None,
    actor: Actor = None,
) -> list[Invoice]:
    """Draft invoices, one per (customer, currency, unsaved lines), each also taking the
    customer's pending lines in that currency; a draft with no line at all makes none.
    A fixed number of queries for any number of drafts. Call inside the caller's
    transaction, with the customer rows locked."""
    pending = defaultdict(list)
    for line in InvoiceLine.objects.filter(
        customer_id__in={customer.pk for customer, _, _ in drafts}, invoice__isnull=True
    ).order_by("pk"):
        pending[(line.customer_id, line.currency)].append(line)
    invoices, lines_of = [], {}
    for customer, currency, new in drafts:
        lines = [*pending.pop((customer.pk, currency), []), *new]
        if not lines:
            continue
        invoice = Invoice(customer=customer, currency=currency, bill_run=bill_run)
        invoice.period_start = min(
            (ln.period_start for ln in lines if ln.period_start), default=None
        )
        invoice.period_end = max((ln.period_end for ln in lines if ln.period_end), default=None)
        invoices.append(invoice)
        lines_of[id(invoice)] = lines
    taxer = InvoiceTaxer() if invoices else None
    for invoice in invoices:  # charges first: coupons apply to the net amounts
        on = tax_point(invoice.customer, at)
        taxer.charges(
            customer=invoice.customer, currency=invoice.currency, lines=lines_of[id(invoice)], on=on
        )
    # Coupons: discount lines before the totals (and tax), in one query for the whole batch.
    discount_lines = invoices_discount(
        drafts=[(invoice, lines_of[id(invoice)]) for invoice in invoices], at=at, actor=actor
    )
    for invoice, extra in zip(invoices, discount_lines, strict=True):
        lines = lines_of[id(invoice)] = [*lines_of[id(invoice)], *extra]
        taxer.tax(
            invoice=invoice, lines=lines, on=tax_point(invoice.customer, at), charges_done=True
        )
        invoice_totals(invoice, lines)
        invoice.line_count = len(lines)
    Invoice.objects.bulk_create(invoices)
    moved, created = [], []
    for invoice in invoices:
        for position, line in enumerate(lines_of[id(invoice)]):
            line.invoice, line.position = invoice, position
            (moved if line.pk else created).append(line)
        billing_event_record(
            kind="invoice.created",
            subject=invoice,
            at=at,
            actor=actor,
            customer=invoice.customer,
            payload={"total": invoice.total, "currency": invoice.currency},
        )
    InvoiceLine.objects.bulk_update(moved, ["invoice", "position", *TAX_LINE_FIELDS])
    InvoiceLine.objects.bulk_create(created)
    return invoices


def invoice_create(
    *,
    customer: Customer,
    currency: str,
    lines: list[InvoiceLine],
    at: datetime,
    bill_run=None,
    actor: Actor = None,
) -> Invoice | None:
    """One draft invoice (see `invoices_create`); None when there is nothing to invoice."""
    invoices = invoices_create(
        drafts=[(customer, currency, lines)], at=at, bill_run=bill_run, actor=actor
    )
    return invoices[0] if invoices else None


def invoice_held(invoice: Invoice) -> str:
    """Why a draft may not be finalized now ("" when it may): a customer whose VAT number
    VIES has still to confirm would otherwise be taxed as a consumer, or not at all."""
    if invoice.customer.tax_id_status == TaxIdStatus.PENDING:
        return (
            "The customer's VAT number is waiting for the VIES check; the invoice stays a "
            "draft until it is answered."
        )
    return ""


def invoice_retax(invoice: Invoice, at: datetime, taxer: InvoiceTaxer | None = None) -> None:
    """Tax a draft again on its tax point (`at`'s day for the customer), saving its lines."""
    lines = list(invoice.lines.select_related("subscription__plan").order_by("position", "pk"))
    (taxer or InvoiceTaxer()).tax(invoice=invoice, lines=lines, on=tax_point(invoice.customer, at))
    InvoiceLine.objects.bulk_update(lines, TAX_LINE_FIELDS)
    invoice_totals(invoice, lines)


def invoice_due_days(customer: Customer) -> int:
    """The customer's payment terms: its own days, else `settings.INVOICE_DUE_DAYS`."""
    if customer.payment_terms_days is not None:
        return customer.payment_terms_days
    return settings.INVOICE_DUE_DAYS


@transaction.atomic
def invoice_finalize(*, invoice: Invoice, at: datetime, actor: Actor = None) -> Invoice:
    invoice = Invoice.objects.select_for_update().select_related("customer").get(pk=invoice.pk)
    if invoice.status == InvoiceStatus.DRAFT:
        held = invoice_held(invoice)
        if held:
            raise StateError(held, code="tax_id_pending")
        invoice_retax(invoice, at)
        invoice.seller_details = seller_details()
    number = invoice_number_take(series=invoice.series, at=at) if invoice.status == "draft" else ""
    invoice.finalize(
        number=number,
        at=at,
        due_at=at + timedelta(days=invoice_due_days(invoice.customer)),
        payment_reference=payment_reference_for(number),
    )
    invoice_settle_negative(invoice=invoice, at=at, actor=actor)  # total < 0: to the balance
    invoice_apply_balance(invoice=invoice, at=at, actor=actor)  # the balance pays what it can
    if invoice.status == InvoiceStatus.OPEN and invoice.amount_due == 0:
        invoice.mark_paid(at=at)
    invoice.save()
    billing_event_record(
        kind="invoice.finalized",
        subject=invoice,
        at=at,
        actor=actor,
        payload={"number": invoice.number, "total": invoice.total},
    )
    if invoice.customer.invoice_delivery != InvoiceDelivery.PORTAL:
        # A customer that takes its invoices in the portal gets no invoice mail (staff can
        # still send one from the admin: `invoice_email_send(resend=True)`).
        transaction.on_commit(
            partial(
                async_task, "billing.invoicing.tasks.invoice_email_send_task", invoice_id=invoice.pk
            )
        )
    hooks.invoice_finalized.send(sender=Invoice, invoice=invoice)
    if invoice.status == "paid":
        billing_event_record(
            kind="invoice.paid",
            subject=invoice,
            at=at,
            actor=actor,
            payload={"number": invoice.number, "amount_paid": invoice.amount_paid},
        )
    return invoice


@transaction.atomic
def invoice_void(
    *, invoice: Invoice, at: datetime, actor: Actor = None, reason: str = ""
) -> Invoice:
    """Void a draft or open invoice; `reason` (staff's words) is kept on the event."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    invoice.void(at=at)
    invoice.save()
    payload = {"number": invoice.number, "reason": reason[:300]} if reason else None
    billing_event_record(
        kind="invoice.voided", subject=invoice, at=at, actor=actor, payload=payload
    )
    hooks.invoice_closed.send(sender=Invoice, invoice=invoice, at=at, outcome="voided", actor=actor)
    return invoice


@transaction.atomic
def invoice_mark_paid(*, invoice: Invoice, at: datetime, actor: Actor = None) -> Invoice:
    """Paid outside any gateway (a cheque, a transfer recorded by hand)."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    outside = invoice.amount_due
    invoice.mark_paid(at=at)
    invoice.save()
    billing_event_record(
        kind="invoice.paid",
        subject=invoice,
        at=at,
        actor=actor,
        payload={
            "number": invoice.number,
            "amount_paid": invoice.amount_paid,
            # received outside any payment (the ledger's cash)
            "marked_paid": format_amount(outside, invoice.currency),
        },
    )
    hooks.invoice_paid.send(sender=Invoice, invoice=invoice, at=at, actor=actor)
    return invoice


@transaction.atomic
def invoice_mark_uncollectible(
    *, invoice: Invoice, at: datetime, actor: Actor = None, reason: str = ""
) -> Invoice:
    """Write off an open invoice: nothing more is collected or chased (its dunning ends);
    `reason` (staff's words) is kept on the event."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    invoice.mark_uncollectible()
    invoice.save()
    billing_event_record(
        kind="invoice.marked_uncollectible",
        subject=invoice,
        at=at,
        actor=actor,
        payload={
            "number": invoice.number,
            "amount_due": invoice.amount_due,
            **({"reason": reason[:300]} if reason else {}),
        },
    )
    hooks.invoice_closed.send(
        sender=Invoice, invoice=invoice, at=at, outcome="uncollectible", actor=actor
    )
    return invoice
