"""Invoice lines for what a subscription owes, invoices, their numbers and finalization."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import transaction
from django_q.tasks import async_task

from billing import periods
from billing.models import (
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    LineKind,
    Subscription,
)
from billing.services.events import Actor, billing_event_record
from catalog.money import round_money
from customers.models import Customer


@dataclass
class DueCharges:
    """What a subscription owes by some instant: unsaved lines, and how far that bills it."""

    lines: list[InvoiceLine] = field(default_factory=list)
    billed_through: datetime | None = None


def base_fee_line(sub: Subscription, period: periods.Period) -> InvoiceLine:
    """The base fee of one period; a stub is prorated against the full period it ends."""
    plan = sub.plan
    unit = plan.amount
    full = period.days
    if period.is_stub:
        full = periods.full_period_days(sub.schedule, period.end_date)
    exact = periods.prorate(unit * sub.quantity, period.days, full)
    description = f"{plan.name} × {sub.quantity}" if sub.quantity > 1 else plan.name
    if period.days != full:
        description += f" (prorated {period.days}/{full} days)"
    return InvoiceLine(
        customer_id=sub.customer_id,
        currency=sub.currency,
        subscription=sub,
        kind=LineKind.SUBSCRIPTION,
        description=description,
        quantity=Decimal(sub.quantity),
        unit_amount=unit,
        amount=round_money(exact, sub.currency),
        period_start=period.start,
        period_end=period.end,
        billing_key=f"sub:{sub.pk}:base:{period.start_date.isoformat()}",
    )


def subscription_due_charges(*, sub: Subscription, as_of: datetime) -> DueCharges:
    """Base fees due by `as_of` that are not billed yet: periods that started by then (pay in
    advance) or ended by then (in arrears), never past the subscription's end."""
    due = DueCharges(billed_through=sub.billed_through)
    if sub.trial_end_at and as_of < sub.trial_end_at:
        return due
    schedule = sub.schedule
    start = sub.billed_through or periods.first_period(schedule).start
    stop = sub.ended_at
    in_advance = sub.plan.pay_in_advance
    for period in periods.periods_between(schedule, start, as_of + timedelta(microseconds=1)):
        if start > period.start:  # billed up to inside this period: bill the rest of it
            period = periods.rest_of_period(
                schedule, period, periods.local_date(start, sub.timezone)
            )
        if stop is not None and period.start >= stop:
            break
        if (period.start if in_advance else period.end) > as_of:
            break
        if sub.plan.amount > 0:
            due.lines.append(base_fee_line(sub, period))
        due.billed_through = period.end
    return due


def pending_lines(*, customer: Customer, currency: str | None = None):
    lines = InvoiceLine.objects.filter(customer=customer, invoice__isnull=True)
    if currency:
        lines = lines.filter(currency=currency)
    return lines.order_by("pk")


def invoice_totals(invoice: Invoice, lines: list[InvoiceLine]) -> None:
    invoice.subtotal = sum((line.amount for line in lines), Decimal(0))
    invoice.tax = sum((line.tax_amount for line in lines), Decimal(0))
    invoice.total = invoice.subtotal - invoice.discount + invoice.tax
    invoice.amount_due = invoice.total - invoice.amount_paid


def invoice_create(
    *,
    customer: Customer,
    currency: str,
    lines: list[InvoiceLine],
    at: datetime,
    bill_run=None,
    actor: Actor = None,
) -> Invoice:
    """A draft invoice holding `lines` (unsaved) and the customer's pending lines in that
    currency. Call inside the caller's transaction, with the customer row locked."""
    pending = list(pending_lines(customer=customer, currency=currency))
    lines = [*pending, *lines]
    invoice = Invoice(customer=customer, currency=currency, bill_run=bill_run)
    invoice.period_start = min((ln.period_start for ln in lines if ln.period_start), default=None)
    invoice.period_end = max((ln.period_end for ln in lines if ln.period_end), default=None)
    invoice_totals(invoice, lines)
    invoice.save()
    for position, line in enumerate(lines):
        line.invoice, line.position = invoice, position
    if pending:
        InvoiceLine.objects.bulk_update(pending, ["invoice", "position"])
    InvoiceLine.objects.bulk_create([line for line in lines if line.pk is None])
    billing_event_record(
        kind="invoice.created",
        subject=invoice,
        at=at,
        actor=actor,
        customer=customer,
        payload={"total": invoice.total, "currency": currency},
    )
    return invoice


def invoice_number_take(*, series: str, at: datetime) -> str:
    """The next number of `series` this year. The sequence row stays locked until the caller's
    transaction ends, so numbers are gapless: a rollback gives the number back."""
    year = at.year
    InvoiceNumberSequence.objects.get_or_create(series=series, year=year)
    sequence = InvoiceNumberSequence.objects.select_for_update().get(series=series, year=year)
    value = sequence.next_value
    sequence.next_value = value + 1
    sequence.save(update_fields=["next_value"])
    return f"{series}-{year}-{value:06d}"


@transaction.atomic
def invoice_finalize(*, invoice: Invoice, at: datetime, actor: Actor = None) -> Invoice:
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    number = invoice_number_take(series=invoice.series, at=at) if invoice.status == "draft" else ""
    invoice.finalize(number=number, at=at, due_at=at + timedelta(days=settings.INVOICE_DUE_DAYS))
    if invoice.total == 0:
        invoice.mark_paid(at=at)
    invoice.save()
    billing_event_record(
        kind="invoice.finalized",
        subject=invoice,
        at=at,
        actor=actor,
        payload={"number": invoice.number, "total": invoice.total},
    )
    transaction.on_commit(
        partial(
            async_task, "billing.tasks_documents.invoice_email_send_task", invoice_id=invoice.pk
        )
    )
    if invoice.status == "paid":
        billing_event_record(
            kind="invoice.paid",
            subject=invoice,
            at=at,
            actor=actor,
            payload={"number": invoice.number, "amount_paid": invoice.total},
        )
    return invoice


@transaction.atomic
def invoice_void(*, invoice: Invoice, at: datetime, actor: Actor = None) -> Invoice:
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    invoice.void(at=at)
    invoice.save()
    billing_event_record(kind="invoice.voided", subject=invoice, at=at, actor=actor)
    return invoice


@transaction.atomic
def invoice_mark_paid(*, invoice: Invoice, at: datetime, actor: Actor = None) -> Invoice:
    """Paid outside any gateway (a cheque, a transfer recorded by hand)."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    invoice.mark_paid(at=at)
    invoice.save()
    billing_event_record(
        kind="invoice.paid",
        subject=invoice,
        at=at,
        actor=actor,
        payload={"number": invoice.number, "amount_paid": invoice.amount_paid},
    )
    return invoice
