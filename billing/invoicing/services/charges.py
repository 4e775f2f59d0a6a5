"""What a subscription owes: base fees and add-ons per period, due by an instant."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from billing.invoicing.models.invoices import InvoiceLine, LineKind
from billing.subscriptions import periods
from billing.subscriptions.models.addons import SubscriptionAddOn
from billing.subscriptions.models.subscriptions import Subscription
from billing.subscriptions.services import subscription_addons_recurring
from catalog.money import round_money


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
        tax_code=addon.tax_code,
        tax_behavior=addon.tax_behavior,
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
        tax_code=addon.tax_code,
        tax_behavior=addon.tax_behavior,
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
