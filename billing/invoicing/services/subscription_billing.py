"""Billing a subscription's lifecycle: creating one (its first invoice), advancing it with
time (renewals, trials ending, changes and cancellations scheduled for the period end) and
cancelling it now with proration. The states and rules are in `billing.subscriptions`; this
is where they meet invoice lines and invoices."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.events.services import Actor, subscription_event_record
from billing.invoicing.models.invoices import InvoiceLine
from billing.invoicing.services.charges import (
    addon_one_time_line,
    due_charges_apply,
    subscription_due_charges,
)
from billing.invoicing.services.invoices import (
    invoice_create,
    invoice_finalize,
    invoice_held,
    pending_lines,
)
from billing.invoicing.services.proration import terms_close
from billing.subscriptions import periods
from billing.subscriptions.models.addons import SubscriptionAddOn
from billing.subscriptions.models.subscriptions import Subscription, SubscriptionStatus
from billing.subscriptions.services import (
    addons_end,
    addons_errors,
    addons_open,
    subscription_locked,
    subscription_new_errors,
    switch_terms,
)
from billing.usage.pricing import usage_aggregates_end
from catalog.models import Plan
from customers.models import Customer

S = SubscriptionStatus

# What subscription_advance may change on a subscription (for a caller that saves in bulk).
ADVANCE_FIELDS = [
    "status",
    "plan",
    "quantity",
    "interval",
    "interval_count",
    "billing_day",
    "start_date",
    "anchor_date",
    "anchor_day",
    "billed_through",
    "current_period_start",
    "current_period_end",
    "scheduled_plan",
    "scheduled_quantity",
    "cancel_at_period_end",
    "canceled_at",
    "ended_at",
    "cancel_reason",
    "cancel_comment",
    "updated_at",
]


def addons_one_time_lines(sub: Subscription, rows: Iterable[tuple]) -> list[InvoiceLine]:
    """Lines of one-time add-ons, for (row, units to bill) pairs: billed once, when added."""
    return [
        addon_one_time_line(sub, row, units)
        for row, units in rows
        if not row.is_recurring and units > 0 and row.addon.amount > 0
    ]


@transaction.atomic
def subscription_create(
    *,
    customer: Customer,
    plan: Plan,
    at: datetime,
    start_at: datetime | None = None,
    quantity: int = 1,
    external_id: str | None = None,
    trial_days: int | None = None,
    billing_day: int | None = None,
    addons: list[dict] | None = None,
    actor: Actor = None,
) -> Subscription:
    """Start a subscription. A start in the past is allowed (backdating): its first period is
    billed now and bill runs catch up the rest. A start in the future makes it `pending`.
    `addons` ([{"addon": AddOn, "quantity": int}]) start with it: recurring ones are billed
    with each period's base fee, one-time ones once, on its first invoice."""
    trial_days = plan.trial_days if trial_days is None else trial_days
    addons = addons or []
    errors = subscription_new_errors(
        customer=customer,
        plan=plan,
        quantity=quantity,
        billing_day=billing_day,
        trial_days=trial_days,
        external_id=external_id,
    )
    addon_errors = addons_errors(currency=plan.currency, plans=[plan], items=addons)
    if addon_errors:
        errors["addons"] = addon_errors
    if errors:
        raise ValidationError(errors)
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    start_at = start_at or at
    tz = customer.timezone
    trial_end = None
    if trial_days:
        trial_end = periods.local_midnight(
            periods.local_date(start_at, tz) + timedelta(days=trial_days), tz
        )
    schedule = periods.schedule_for(
        start_at=trial_end or start_at,
        tz=tz,
        interval=plan.interval,
        interval_count=plan.interval_count,
        billing_day=billing_day,
    )
    sub = Subscription(
        customer=customer,
        plan=plan,
        external_id=external_id or None,
        quantity=quantity,
        currency=plan.currency,
        timezone=tz,
        interval=plan.interval,
        interval_count=plan.interval_count,
        billing_day=billing_day,
        start_at=start_at,
        start_date=schedule.start_date,
        anchor_date=schedule.anchor,
        anchor_day=schedule.anchor_day,
        trial_end_at=trial_end,
    )
    sub.set_period(periods.first_period(schedule))
    if trial_end:
        sub.current_period_start, sub.current_period_end = start_at, trial_end
    sub.save()
    rows = SubscriptionAddOn.objects.bulk_create(
        SubscriptionAddOn(
            subscription=sub, addon=item["addon"], quantity=item["quantity"], started_at=start_at
        )
        for item in addons
    )
    InvoiceLine.objects.bulk_create(addons_one_time_lines(sub, [(r, r.quantity) for r in rows]))
    payload = {"addons": [{"addon": r.addon.code, "quantity": r.quantity} for r in rows]}
    subscription_event_record("subscription.created", sub, at, actor, **(payload if rows else {}))
    # Backdated: creation bills only the first period (invoiced now); bill runs catch up.
    first = periods.first_period(schedule)
    first_due = first.end - timedelta(microseconds=1) if plan.pay_in_advance else first.end
    subscription_advance(
        sub=sub, as_of=min(at, first_due), actor=actor, first_invoice=True, invoice_at=at
    )
    return sub


def _apply_scheduled_change(sub: Subscription, as_of: datetime, actor: Actor) -> list:
    """At the end of the period, bill the old terms up to it, then switch to the scheduled
    ones. Returns the lines of the old terms."""
    if not (sub.scheduled_plan_id or sub.scheduled_quantity) or sub.current_period_end > as_of:
        return []
    boundary = sub.current_period_end
    cut = boundary - timedelta(microseconds=1) if sub.plan.pay_in_advance else boundary
    due = subscription_due_charges(sub=sub, as_of=cut)
    due_charges_apply(sub, due)
    old_plan, old_quantity = sub.plan, sub.quantity
    switch_terms(
        sub,
        plan=sub.scheduled_plan or sub.plan,
        quantity=sub.scheduled_quantity or sub.quantity,
        on=boundary,
    )
    sub.scheduled_plan, sub.scheduled_quantity = None, None
    subscription_event_record(
        "subscription.changed",
        sub,
        boundary,
        actor,
        from_plan=old_plan.code,
        from_quantity=old_quantity,
        quantity=sub.quantity,
        when="period_end",
    )
    return due.lines


def subscription_advance(
    *,
    sub: Subscription,
    as_of: datetime,
    actor: Actor = None,
    first_invoice: bool = False,
    save: bool = True,
    invoice_at: datetime | None = None,
) -> list:
    """Bring one (locked) subscription up to `as_of`: start it, end its trial, apply a change
    or a cancellation scheduled for the period end, move its current period. Returns the
    unsaved lines now due. With `first_invoice`, those lines (and the subscription's pending
    ones) are invoiced and finalized at once, at `invoice_at` (default `as_of`: a checkout).
    Without `save`, the caller saves `ADVANCE_FIELDS` of the subscription (its add-ons are
    saved here)."""
    if sub.status == S.PENDING and sub.start_at <= as_of:
        if sub.trial_end_at and sub.trial_end_at > sub.start_at:
            sub.start_trial()
            subscription_event_record(
                "subscription.trial_started",
                sub,
                sub.start_at,
                actor,
                trial_end_at=sub.trial_end_at,
            )
        else:
            sub.activate()
            subscription_event_record("subscription.activated", sub, sub.start_at, actor)
    if sub.status == S.TRIALING and sub.trial_end_at <= as_of and sub.cancel_at_period_end:
        end = sub.trial_end_at  # canceled for the trial's end: it ends, nothing is billed
        sub.cancel(at=end)
        addons_end(sub, end)
        subscription_event_record(
            "subscription.canceled", sub, end, actor, reason=sub.cancel_reason, at_period_end=True
        )
    if sub.status == S.TRIALING and sub.trial_end_at <= as_of:
        sub.activate()
        subscription_event_record(
            "subscription.activated", sub, sub.trial_end_at, actor, trial_converted=True
        )
    # Suspended (dunning): neither renewed nor billed until restored; only a cancellation
    # scheduled for the end of its period still ends it.
    held = sub.status == S.SUSPENDED and not (
        sub.cancel_at_period_end and sub.current_period_end <= as_of
    )
    if held or sub.status in (S.PENDING, S.TRIALING, S.CANCELED, S.EXPIRED, S.PAUSED):
        if save:
            sub.save()
        return []
    lines = []
    if sub.cancel_at_period_end and sub.current_period_end <= as_of:
        end = sub.current_period_end
        sub.cancel(at=end)
        addons_end(sub, end)
        subscription_event_record(
            "subscription.canceled", sub, end, actor, reason=sub.cancel_reason, at_period_end=True
        )
    else:
        lines += _apply_scheduled_change(sub, as_of, actor)
        previous_start = sub.current_period_start
        sub.set_period(periods.period_containing(sub.schedule, max(as_of, sub.start_at)))
        if previous_start is not None and sub.current_period_start > previous_start:
            subscription_event_record(
                "subscription.renewed",
                sub,
                sub.current_period_start,
                actor,
                period_start=sub.current_period_start.isoformat(),
                period_end=sub.current_period_end.isoformat(),
            )
    due = subscription_due_charges(sub=sub, as_of=as_of)
    lines += due.lines
    due_charges_apply(sub, due)
    if save:
        sub.save()
    if first_invoice and (
        lines
        or pending_lines(customer=sub.customer, currency=sub.currency)
        .filter(subscription=sub)
        .exists()
    ):
        invoice_at = invoice_at or as_of
        invoice = invoice_create(
            customer=sub.customer, currency=sub.currency, lines=lines, at=invoice_at, actor=actor
        )
        sub.first_invoice = invoice  # its failed automatic charge makes `sub` incomplete
        Subscription.objects.filter(pk=sub.pk).update(first_invoice=invoice)
        if not invoice_held(invoice):  # held: finalized once the VAT number is answered
            invoice_finalize(invoice=invoice, at=invoice_at, actor=actor)
        return []
    return lines


@transaction.atomic
def subscription_cancel(
    *,
    subscription: Subscription,
    at: datetime,
    when: str = "period_end",
    proration: str = "prorate",
    reason: str = "",
    comment: str = "",
    actor: Actor = None,
) -> Subscription:
    """Cancel now, or at the end of the current period (it stays active until then; a trial
    runs to its end and is never billed).

    Now, with `proration="prorate"`, an active subscription settles its current period like
    a change to nothing (see `terms_close`): its periods due but not billed are billed, what
    was billed (base fee and add-ons) from the day of `at` on is credited, and the days used
    but not billed (in arrears) are charged, as pending lines for the customer's next
    invoice. With "none", nothing is billed or credited."""
    sub = subscription_locked(subscription)
    errors = {}
    if when not in ("immediately", "period_end"):
        errors["when"] = ValidationError("immediately or period_end.", code="invalid_choice")
    if proration not in ("prorate", "none"):
        errors["proration"] = ValidationError("prorate or none.", code="invalid_choice")
    if errors:
        raise ValidationError(errors)
    if when == "period_end" and sub.status in (S.TRIALING, S.ACTIVE, S.PAST_DUE, S.PAUSED):
        # A trial runs to its end, unbilled; a pending start ends at once (nothing to run out).
        sub.cancel_at_period_end = True
        sub.canceled_at = at
        sub.cancel_reason, sub.cancel_comment = reason, comment
        sub.save()
        subscription_event_record(
            "subscription.cancel_scheduled",
            sub,
            at,
            actor,
            reason=reason,
            effective_at=sub.trial_end_at if sub.status == S.TRIALING else sub.current_period_end,
        )
        return sub
    lines: list[InvoiceLine] = []
    settles = sub.status in (S.ACTIVE, S.PAST_DUE, S.SUSPENDED) and sub.current_period_start
    if proration == "prorate" and settles and at >= periods.first_period(sub.schedule).start:
        rows = [row for row in addons_open(sub).values() if row.is_recurring]
        lines = terms_close(sub=sub, at=at, base=True, rows=rows, final=True)
    sub.cancel(at=at, reason=reason, comment=comment)
    addons_end(sub, at)
    usage_aggregates_end(subscription=sub, at=at)
    sub.save()
    InvoiceLine.objects.bulk_create(lines)
    subscription_event_record(
        "subscription.canceled",
        sub,
        at,
        actor,
        reason=reason,
        at_period_end=False,
        proration_total=sum((line.amount for line in lines), Decimal(0)),
    )
    return sub
