"""Proration: what was billed for a span of days, and the credits and charges that settle
part of a period when terms change or end."""

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from billing.invoicing.models.invoices import InvoiceLine, LineKind
from billing.invoicing.services.charges import (
    _full_days,
    _local_midnight_of,
    due_before_period,
    due_charges_apply,
)
from billing.subscriptions import periods
from billing.subscriptions.models.addons import SubscriptionAddOn
from billing.subscriptions.models.subscriptions import Subscription
from catalog.money import round_money


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
    `rows`: a credit for what was billed from that day to the period's end, or to the end of
    all that was billed when that is later (`at` in the past) and a charge for the days of the
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
        # To the end of all that was billed: past the period when `at` lies in the past.
        if billed_through is not None:
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
