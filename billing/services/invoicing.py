"""Invoice lines for what a subscription owes, invoices, their numbers and finalization."""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django_q.tasks import async_task

from billing import periods
from billing.models import (
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    InvoiceStatus,
    LineKind,
    Subscription,
    SubscriptionAddOn,
)
from billing.services.credits import invoice_apply_balance, invoice_settle_negative
from billing.services.discounts import invoices_discount, is_discount_line
from billing.services.events import Actor, billing_event_record
from catalog.models import AddOnInterval
from catalog.money import round_money
from customers.models import Customer


@dataclass
class DueCharges:
    """What a subscription owes by some instant: unsaved lines, and how far that bills it and
    each of its recurring add-ons (apply it with `due_charges_apply`)."""

    lines: list[InvoiceLine] = field(default_factory=list)
    billed_through: datetime | None = None
    addons_billed_through: dict[SubscriptionAddOn, datetime] = field(default_factory=dict)


def _full_days(schedule: periods.Schedule, period: periods.Period) -> int:
    """The days a period is prorated against: a stub's are those of the full period it ends."""
    if period.is_stub:
        return periods.full_period_days(schedule, period.end_date)
    return period.days


def _times(name: str, quantity: int) -> str:
    return f"{name} × {quantity}" if quantity > 1 else name


def base_fee_line(sub: Subscription, period: periods.Period) -> InvoiceLine:
    """The base fee of one period; a stub is prorated against the full period it ends."""
    plan = sub.plan
    unit = plan.amount
    full = _full_days(sub.schedule, period)
    exact = periods.prorate(unit * sub.quantity, period.days, full)
    description = _times(plan.name, sub.quantity)
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


def addon_period_line(
    sub: Subscription, row: SubscriptionAddOn, period: periods.Period
) -> InvoiceLine:
    """A recurring add-on for one period of its subscription (or the part of it from the day
    the add-on starts), prorated like the base fee."""
    addon = row.addon
    full = _full_days(sub.schedule, period)
    exact = periods.prorate(addon.amount * row.quantity, period.days, full)
    description = _times(addon.name, row.quantity)
    if period.days != full:
        description += f" (prorated {period.days}/{full} days)"
    return InvoiceLine(
        customer_id=sub.customer_id,
        currency=sub.currency,
        subscription=sub,
        kind=LineKind.ADDON,
        description=description,
        quantity=Decimal(row.quantity),
        unit_amount=addon.amount,
        amount=round_money(exact, sub.currency),
        period_start=period.start,
        period_end=period.end,
        billing_key=f"{row.key_prefix}{period.start_date.isoformat()}",
    )


def addon_one_time_line(sub: Subscription, row: SubscriptionAddOn, quantity: int) -> InvoiceLine:
    """A one-time add-on, billed once for `quantity` units when it is added (no period)."""
    addon = row.addon
    return InvoiceLine(
        customer_id=sub.customer_id,
        currency=sub.currency,
        subscription=sub,
        kind=LineKind.ADDON,
        description=_times(addon.name, quantity),
        quantity=Decimal(quantity),
        unit_amount=addon.amount,
        amount=round_money(addon.amount * quantity, sub.currency),
        billing_key=f"{row.key_prefix}once",
    )


def _local_midnight_of(at: datetime, tz: str) -> datetime:
    return periods.local_midnight(periods.local_date(at, tz), tz)


def _due_periods(
    sub: Subscription, start: datetime, stop: datetime | None, as_of: datetime
) -> Iterator[periods.Period]:
    """The periods (the first one cut to begin at `start`) due by `as_of` from `start`: that
    started by then (in advance) or ended by then (in arrears), none starting at `stop`."""
    schedule = sub.schedule
    in_advance = sub.plan.pay_in_advance
    for period in periods.periods_between(schedule, start, as_of + timedelta(microseconds=1)):
        if start > period.start:  # billed up to inside this period: bill the rest of it
            period = periods.rest_of_period(
                schedule, period, periods.local_date(start, sub.timezone)
            )
        if stop is not None and period.start >= stop:
            return
        if (period.start if in_advance else period.end) > as_of:
            return
        yield period


def subscription_addons_recurring(sub: Subscription) -> list[SubscriptionAddOn]:
    """The recurring add-on rows of `sub` that may still have something to bill (uses a
    prefetch of `addons__addon` when there is one)."""
    if "addons" in getattr(sub, "_prefetched_objects_cache", {}):
        rows = list(sub.addons.all())
    else:
        rows = list(
            sub.addons.select_related("addon")
            .exclude(addon__interval=AddOnInterval.ONE_TIME)
            .filter(
                Q(ended_at__isnull=True)
                | Q(billed_through__isnull=True)
                | Q(billed_through__lt=F("ended_at"))
            )
            .order_by("pk")
        )
    return [
        row
        for row in rows
        if row.is_recurring
        and (
            row.ended_at is None or row.billed_through is None or row.billed_through < row.ended_at
        )
    ]


def subscription_due_charges(*, sub: Subscription, as_of: datetime) -> DueCharges:
    """Base fees and recurring add-ons due by `as_of` that are not billed yet: periods that
    started by then (pay in advance) or ended by then (in arrears), never past the
    subscription's end. An add-on is billed for the periods from the local day it starts (or
    from its `billed_through`) to the local day it ends; in each period after the base fee."""
    due = DueCharges(billed_through=sub.billed_through)
    if sub.trial_end_at and as_of < sub.trial_end_at:
        return due
    first = periods.first_period(sub.schedule).start
    for period in _due_periods(sub, sub.billed_through or first, sub.ended_at, as_of):
        if sub.plan.amount > 0:
            due.lines.append(base_fee_line(sub, period))
        due.billed_through = period.end
    for row in subscription_addons_recurring(sub):
        start = row.billed_through or max(_local_midnight_of(row.started_at, sub.timezone), first)
        stops = [sub.ended_at]
        if row.ended_at is not None:
            stops.append(_local_midnight_of(row.ended_at, sub.timezone))
        stop = min((s for s in stops if s is not None), default=None)
        for period in _due_periods(sub, start, stop, as_of):
            due.lines.append(addon_period_line(sub, row, period))
            due.addons_billed_through[row] = period.end
    due.lines.sort(key=lambda line: line.period_start)  # stable: each period's base fee first
    return due


def due_charges_apply(
    sub: Subscription, due: DueCharges, rows: Iterable[SubscriptionAddOn] = ()
) -> None:
    """Record that `due` is billed: move the subscription's `billed_through` (the caller saves
    it) and its add-ons' (saved here; also set on `rows`, other copies of those rows)."""
    sub.billed_through = due.billed_through
    if not due.addons_billed_through:
        return
    for row, through in due.addons_billed_through.items():
        row.billed_through = through
    for row in rows:
        if row in due.addons_billed_through:
            row.billed_through = due.addons_billed_through[row]
    SubscriptionAddOn.objects.bulk_update(list(due.addons_billed_through), ["billed_through"])


def due_before_period(sub: Subscription, period: periods.Period) -> DueCharges:
    """What is due but not billed for the periods before `period`, on the current terms."""
    in_advance = sub.plan.pay_in_advance
    cut = period.start - timedelta(microseconds=1) if in_advance else period.start
    return subscription_due_charges(sub=sub, as_of=cut)


# Proration: what was billed for a span of days, credits and charges for part of a period.


def _billed_between(lines, tz: str, start: date, end: date) -> Decimal:
    """What `lines` billed for the local days [start, end), each line counted for the share of
    its own days that falls in that span (unrounded)."""
    billed = Decimal(0)
    lines = lines.filter(
        period_start__lt=periods.local_midnight(end, tz),
        period_end__gt=periods.local_midnight(start, tz),
    )
    for line in lines:
        line_start = periods.local_date(line.period_start, tz)
        line_end = periods.local_date(line.period_end, tz)
        overlap = (min(line_end, end) - max(line_start, start)).days
        if overlap > 0:
            billed += periods.prorate(line.amount, overlap, (line_end - line_start).days)
    return billed


def proration_line(
    sub: Subscription,
    *,
    amount: Decimal,
    start: date,
    end: date,
    description: str,
    unit_amount: Decimal,
    quantity: int,
    billing_key: str | None = None,
) -> InvoiceLine:
    """A pending proration line for the local days [start, end), rounded once."""
    return InvoiceLine(
        customer_id=sub.customer_id,
        currency=sub.currency,
        subscription=sub,
        kind=LineKind.PRORATION,
        description=description,
        quantity=Decimal(quantity),
        unit_amount=unit_amount,
        amount=round_money(amount, sub.currency),
        period_start=periods.local_midnight(start, sub.timezone),
        period_end=periods.local_midnight(end, sub.timezone),
        billing_key=billing_key,
    )


def unused_credit(sub: Subscription, start: date, end: date) -> InvoiceLine | None:
    """Minus what was billed (invoiced or pending) of the base fee for [start, end)."""
    lines = InvoiceLine.objects.filter(
        subscription=sub, kind__in=[LineKind.SUBSCRIPTION, LineKind.PRORATION]
    ).exclude(billing_key__startswith=f"sub:{sub.pk}:addon:")
    billed = _billed_between(lines, sub.timezone, start, end)
    if billed == 0:
        return None
    return proration_line(
        sub,
        amount=-billed,
        start=start,
        end=end,
        unit_amount=sub.plan.amount,
        quantity=sub.quantity,
        description=f"Unused time on {sub.plan.name} × {sub.quantity} from {start}",
    )


def addon_unused_credit(
    sub: Subscription, row: SubscriptionAddOn, start: date, end: date
) -> InvoiceLine | None:
    """Minus what was billed (invoiced or pending) of one add-on row for [start, end)."""
    lines = InvoiceLine.objects.filter(subscription=sub, billing_key__startswith=row.key_prefix)
    billed = _billed_between(lines, sub.timezone, start, end)
    if billed == 0:
        return None
    return proration_line(
        sub,
        amount=-billed,
        start=start,
        end=end,
        unit_amount=row.addon.amount,
        quantity=row.quantity,
        description=f"Unused time on {row.addon.name} × {row.quantity} from {start}",
        billing_key=f"{row.key_prefix}credit:{start.isoformat()}",
    )


def terms_close(
    *,
    sub: Subscription,
    at: datetime,
    base: bool,
    rows: Iterable[SubscriptionAddOn] = (),
    final: bool = False,
) -> list[InvoiceLine]:
    """Settle the current terms of an active subscription at `at` (the local day of `at`
    counts for what comes next). Bills the periods before the current one that are due but
    not billed; then, for the base fee when `base` and for each recurring add-on row in
    `rows`: a credit for what was billed from that day to the period's end (to the end of all
    that was billed, when `final`: the subscription ends) and a charge for the days of the
    period before it that were used but not billed (in arrears, or a bill run not yet run).
    Moves `billed_through` of the subscription (not saved) and of the rows (saved)."""
    rows = list(rows)
    tz = sub.timezone
    day = periods.local_date(at, tz)
    on = periods.local_midnight(day, tz)
    period = periods.period_containing(sub.schedule, at)
    full = _full_days(sub.schedule, period)
    before = due_before_period(sub, period)
    due_charges_apply(sub, before, rows)
    lines = list(before.lines)

    def credit_end(billed_through: datetime | None) -> date:
        if final and billed_through is not None:
            return max(period.end_date, periods.local_date(billed_through, tz))
        return period.end_date

    if base:
        credit = unused_credit(sub, day, credit_end(sub.billed_through))
        if credit:
            lines.append(credit)
        billed_from = periods.local_date(max(period.start, sub.billed_through or period.start), tz)
        if day > billed_from and sub.plan.amount > 0:
            lines.append(
                proration_line(
                    sub,
                    amount=periods.prorate(
                        sub.plan.amount * sub.quantity, (day - billed_from).days, full
                    ),
                    start=billed_from,
                    end=day,
                    unit_amount=sub.plan.amount,
                    quantity=sub.quantity,
                    description=f"{sub.plan.name} × {sub.quantity} until {day}",
                )
            )
        sub.billed_through = on
    for row in rows:
        credit = addon_unused_credit(sub, row, day, credit_end(row.billed_through))
        if credit:
            lines.append(credit)
        billed_from = row.billed_through or _local_midnight_of(row.started_at, tz)
        billed_from = periods.local_date(max(period.start, billed_from), tz)
        if day > billed_from and row.addon.amount > 0:
            lines.append(
                proration_line(
                    sub,
                    amount=periods.prorate(
                        row.addon.amount * row.quantity, (day - billed_from).days, full
                    ),
                    start=billed_from,
                    end=day,
                    unit_amount=row.addon.amount,
                    quantity=row.quantity,
                    description=f"{row.addon.name} × {row.quantity} until {day}",
                    billing_key=f"{row.key_prefix}used:{day.isoformat()}",
                )
            )
        row.billed_through = max(row.billed_through or on, on)
    if rows:
        SubscriptionAddOn.objects.bulk_update(rows, ["billed_through"])
    return lines


def pending_lines(*, customer: Customer, currency: str | None = None):
    lines = InvoiceLine.objects.filter(customer=customer, invoice__isnull=True)
    if currency:
        lines = lines.filter(currency=currency)
    return lines.order_by("pk")


def invoice_totals(invoice: Invoice, lines: list[InvoiceLine]) -> None:
    """Discount = the coupon lines (as a positive number); subtotal is before them."""
    invoice.discount = -sum((line.amount for line in lines if is_discount_line(line)), Decimal(0))
    invoice.subtotal = sum((line.amount for line in lines), Decimal(0)) + invoice.discount
    invoice.tax = sum((line.tax_amount for line in lines), Decimal(0))
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
    # Coupons: discount lines before the totals (and tax), in one query for the whole batch.
    discount_lines = invoices_discount(
        drafts=[(invoice, lines_of[id(invoice)]) for invoice in invoices], at=at, actor=actor
    )
    for invoice, extra in zip(invoices, discount_lines, strict=True):
        lines = lines_of[id(invoice)] = [*lines_of[id(invoice)], *extra]
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
    InvoiceLine.objects.bulk_update(moved, ["invoice", "position"])
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
            payload={"number": invoice.number, "amount_paid": invoice.amount_paid},
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
