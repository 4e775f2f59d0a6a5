"""Mid-cycle changes of plan or quantity, prorated by days (see DESIGN.md, Time).

Immediately, on a plan paid in advance: a credit for the unused part of what was actually
billed for the rest of the period, and a charge for the rest of the period on the new terms.
In arrears: a charge for the part of the period used on the old terms; the bill run bills the
rest on the new terms at the period's end. A new interval restarts the schedule on the day of
the change. The lines wait on the customer's next invoice. At period end: the change is
stored and applied by the bill run at renewal.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from api.errors import StateError
from billing import periods
from billing.models import InvoiceLine, LineKind, Subscription, SubscriptionStatus
from billing.services.events import Actor
from billing.services.invoicing import subscription_due_charges
from billing.services.subscriptions import _locked, _record, switch_terms
from catalog.models import Plan, PlanStatus
from catalog.money import round_money

S = SubscriptionStatus


@dataclass
class ChangeResult:
    subscription: Subscription
    proration_lines: list[InvoiceLine]


def _days(start: date, end: date) -> int:
    return (end - start).days


def _full_days(sub: Subscription, period: periods.Period) -> int:
    if period.is_stub:
        return periods.full_period_days(sub.schedule, period.end_date)
    return period.days


def _line(
    sub: Subscription,
    *,
    amount: Decimal,
    start: date,
    end: date,
    description: str,
    unit_amount: Decimal,
    quantity: int,
) -> InvoiceLine:
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
    )


def _unused_credit(sub: Subscription, start: date, end: date) -> InvoiceLine | None:
    """Minus what was billed (invoiced or pending) for [start, end), each line counted for
    the share of its own days that falls in that span."""
    tz = sub.timezone
    billed = Decimal(0)
    lines = InvoiceLine.objects.filter(
        subscription=sub,
        kind__in=[LineKind.SUBSCRIPTION, LineKind.PRORATION],
        period_start__lt=periods.local_midnight(end, tz),
        period_end__gt=periods.local_midnight(start, tz),
    )
    for line in lines:
        line_start = periods.local_date(line.period_start, tz)
        line_end = periods.local_date(line.period_end, tz)
        overlap = _days(max(line_start, start), min(line_end, end))
        if overlap > 0:
            billed += periods.prorate(line.amount, overlap, _days(line_start, line_end))
    if billed == 0:
        return None
    return _line(
        sub,
        amount=-billed,
        start=start,
        end=end,
        unit_amount=sub.plan.amount,
        quantity=sub.quantity,
        description=f"Unused time on {sub.plan.name} × {sub.quantity} from {start}",
    )


def _validate(sub: Subscription, plan: Plan, quantity: int, when: str, proration: str) -> None:
    errors = {}
    if plan.pk != sub.plan_id and (plan.status != PlanStatus.ACTIVE or not plan.is_latest):
        errors["plan"] = ValidationError("This plan is not offered any more.", code="plan_inactive")
    if plan.currency != sub.currency:
        errors["plan"] = ValidationError(
            f"The new plan bills in {plan.currency}, this subscription in {sub.currency}.",
            code="currency_mismatch",
        )
    if quantity < 1:
        errors["quantity"] = ValidationError("Quantity must be at least 1.", code="min_value")
    if when not in ("immediately", "period_end"):
        errors["when"] = ValidationError("immediately or period_end.", code="invalid_choice")
    if proration not in ("prorate", "none"):
        errors["proration"] = ValidationError("prorate or none.", code="invalid_choice")
    if plan.pk == sub.plan_id and quantity == sub.quantity:
        errors["plan"] = ValidationError("Nothing to change.", code="no_change")
    if errors:
        raise ValidationError(errors)
    if sub.status not in (S.ACTIVE, S.PAST_DUE, S.TRIALING, S.PENDING):
        raise StateError(
            f"A {sub.status} subscription cannot be changed.", code="subscription_not_changeable"
        )


def _immediate(
    sub: Subscription, plan: Plan, quantity: int, at: datetime, proration: str
) -> list[InvoiceLine]:
    day = periods.local_date(at, sub.timezone)
    on = periods.local_midnight(day, sub.timezone)
    if sub.status in (S.TRIALING, S.PENDING) or proration == "none":
        switch_terms(sub, plan=plan, quantity=quantity, on=on)
        return []
    period = periods.period_containing(sub.schedule, at)
    # First the periods before this one that are due but not billed yet, on the old terms.
    cut = period.start - timedelta(microseconds=1) if sub.plan.pay_in_advance else period.start
    before = subscription_due_charges(sub=sub, as_of=cut)
    lines = list(before.lines)
    credit = _unused_credit(sub, day, period.end_date)
    if credit:
        lines.append(credit)
    billed_from = periods.local_date(
        max(period.start, before.billed_through or period.start), sub.timezone
    )
    if day > billed_from and sub.plan.amount > 0:
        exact = periods.prorate(
            sub.plan.amount * sub.quantity, _days(billed_from, day), _full_days(sub, period)
        )
        lines.append(
            _line(
                sub,
                amount=exact,
                start=billed_from,
                end=day,
                unit_amount=sub.plan.amount,
                quantity=sub.quantity,
                description=f"{sub.plan.name} × {sub.quantity} until {day}",
            )
        )
    sub.billed_through = on
    switch_terms(sub, plan=plan, quantity=quantity, on=on)
    due = subscription_due_charges(sub=sub, as_of=at)
    for line in due.lines:
        line.kind, line.billing_key = LineKind.PRORATION, None
        line.description = f"Remaining time on {line.description}"
    sub.billed_through = due.billed_through
    return lines + due.lines


def subscription_change(
    *,
    subscription: Subscription,
    at: datetime,
    plan: Plan | None = None,
    quantity: int | None = None,
    when: str = "immediately",
    proration: str = "prorate",
    preview: bool = False,
    actor: Actor = None,
) -> ChangeResult:
    """Change plan and/or quantity. With `preview`, nothing is saved: the result holds the
    subscription as it is and the exact lines the change would create."""
    with transaction.atomic():
        sub = _locked(subscription)
        plan = plan or sub.plan
        quantity = sub.quantity if quantity is None else quantity
        _validate(sub, plan, quantity, when, proration)
        old_plan, old_quantity = sub.plan, sub.quantity
        if when == "period_end":
            sub.scheduled_plan = plan if plan.pk != sub.plan_id else None
            sub.scheduled_quantity = quantity if quantity != sub.quantity else None
            lines: list[InvoiceLine] = []
        else:
            lines = _immediate(sub, plan, quantity, at, proration)
        if preview:
            transaction.set_rollback(True)
        else:
            sub.save()
            InvoiceLine.objects.bulk_create(lines)
            kind = (
                "subscription.changed" if when == "immediately" else "subscription.change_scheduled"
            )
            _record(
                kind,
                sub,
                at,
                actor,
                from_plan=old_plan.code,
                from_quantity=old_quantity,
                to_plan=plan.code,
                quantity=quantity,
                when=when,
                proration_total=sum((ln.amount for ln in lines), Decimal(0)),
            )
    if preview:
        sub = Subscription.objects.select_related("plan", "customer").get(pk=sub.pk)
    return ChangeResult(subscription=sub, proration_lines=lines)
