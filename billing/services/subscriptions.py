"""Subscription lifecycle: create, advance with time, cancel, pause, resume."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from api.errors import StateError
from billing import periods
from billing.models import InvoiceLine, Subscription, SubscriptionAddOn, SubscriptionStatus
from billing.services.charges import (
    addon_one_time_line,
    billing_restart,
    due_charges_apply,
    subscription_due_charges,
)
from billing.services.events import Actor, subscription_event_record
from billing.services.invoicing import invoice_create, invoice_finalize, pending_lines
from billing.services.proration import terms_close
from billing.services.usage_billing import usage_aggregates_end
from catalog.models import AddOnInterval, Plan, PlanStatus
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


def _new_errors(
    *,
    customer: Customer,
    plan: Plan,
    quantity: int,
    billing_day: int | None,
    trial_days: int,
    external_id: str | None,
) -> dict[str, ValidationError]:
    errors = {}
    if customer.is_archived:
        errors["customer"] = ValidationError("This customer is archived.", code="archived")
    if plan.status != PlanStatus.ACTIVE or not plan.is_latest:
        errors["plan"] = ValidationError("This plan is not offered any more.", code="plan_inactive")
    if quantity < 1:
        errors["quantity"] = ValidationError("Quantity must be at least 1.", code="min_value")
    if billing_day is not None and plan.interval not in ("month", "year"):
        errors["billing_day"] = ValidationError(
            "billing_day applies to monthly and yearly plans only.", code="not_allowed"
        )
    if billing_day is not None and not 1 <= billing_day <= 31:
        errors["billing_day"] = ValidationError("billing_day is 1 to 31.", code="out_of_range")
    if trial_days < 0:
        errors["trial_days"] = ValidationError("trial_days must not be negative.", code="min_value")
    if external_id and Subscription.objects.filter(external_id=external_id).exists():
        errors["external_id"] = ValidationError(
            "A subscription with this external_id exists.", code="unique"
        )
    return errors


def _validate_new(**kwargs) -> None:
    errors = _new_errors(**kwargs)
    if errors:
        raise ValidationError(errors)


def addons_errors(
    *,
    currency: str,
    plans: Iterable[Plan],
    items: list[dict],
    current: Iterable[int] = (),
    minimum: int = 1,
) -> list[ValidationError]:
    """What is wrong with `items` ([{"addon": AddOn, "quantity": int}]), the add-ons a
    subscription in `currency` is to have on each of `plans`; `current` are the ids of the
    add-ons it has now (those may be kept even if no longer offered)."""
    errors = []
    current = set(current)
    seen = set()
    for item in items:
        addon, quantity = item["addon"], item["quantity"]
        if addon.pk in seen:
            errors.append(
                ValidationError(f"The add-on {addon.code} is listed twice.", code="duplicate")
            )
        seen.add(addon.pk)
        if quantity < minimum:
            errors.append(
                ValidationError(
                    f"The quantity of {addon.code} must be at least {minimum}.", code="min_value"
                )
            )
        if quantity < 1:
            continue
        if addon.pk not in current and not addon.active:
            errors.append(
                ValidationError(f"The add-on {addon.code} is not offered.", code="addon_inactive")
            )
        if addon.currency != currency:
            errors.append(
                ValidationError(
                    f"The add-on {addon.code} bills in {addon.currency}, "
                    f"this subscription in {currency}.",
                    code="currency_mismatch",
                )
            )
        if addon.interval == AddOnInterval.ONE_TIME:
            continue
        for plan in plans:
            if (plan.interval, plan.interval_count) != (addon.interval, 1):
                every = (
                    f"{plan.interval_count} {plan.interval}s"
                    if plan.interval_count > 1
                    else plan.interval
                )
                errors.append(
                    ValidationError(
                        f"The add-on {addon.code} bills every {addon.interval}, the plan "
                        f"{plan.code} every {every}: a recurring add-on must bill on the "
                        "plan's interval (one-time add-ons fit any plan).",
                        code="addon_interval_mismatch",
                    )
                )
    return errors


def addons_open(sub: Subscription) -> dict[int, SubscriptionAddOn]:
    """The add-ons a subscription has now (not ended), by add-on id."""
    rows = sub.addons.filter(ended_at__isnull=True).select_related("addon").order_by("pk")
    return {row.addon_id: row for row in rows}


def addons_end(sub: Subscription, at: datetime) -> None:
    """End every open add-on of `sub` at `at` (a row not started yet ends as it starts)."""
    prefetched = "addons" in getattr(sub, "_prefetched_objects_cache", {})
    rows = sub.addons.all() if prefetched else sub.addons.filter(ended_at__isnull=True)
    rows = [row for row in rows if row.ended_at is None]
    for row in rows:
        row.ended_at = max(at, row.started_at)
    SubscriptionAddOn.objects.bulk_update(rows, ["ended_at"])


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
    errors = _new_errors(
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


def switch_terms(sub: Subscription, *, plan: Plan, quantity: int, on: datetime) -> None:
    """Put `sub` on new terms from instant `on` (a local midnight). A new interval restarts
    the schedule on that day (anniversary); the same interval keeps the schedule."""
    changed_interval = (plan.interval, plan.interval_count) != (sub.interval, sub.interval_count)
    sub.plan, sub.quantity = plan, quantity
    if changed_interval:
        schedule = periods.schedule_for(
            start_at=on, tz=sub.timezone, interval=plan.interval, interval_count=plan.interval_count
        )
        sub.interval, sub.interval_count, sub.billing_day = plan.interval, plan.interval_count, None
        sub.start_date, sub.anchor_date = schedule.start_date, schedule.anchor
        sub.anchor_day = schedule.anchor_day
        sub.billed_through = None
        sub.set_period(periods.first_period(schedule))


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
        invoice_finalize(invoice=invoice, at=invoice_at, actor=actor)
        return []
    return lines


def _locked(sub: Subscription) -> Subscription:
    return (
        Subscription.objects.select_for_update().select_related("plan", "customer").get(pk=sub.pk)
    )


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
    sub = _locked(subscription)
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


@transaction.atomic
def subscription_cancel_undo(
    *, subscription: Subscription, at: datetime, actor: Actor = None
) -> Subscription:
    """Keep a subscription whose cancellation at the period end is still to come: it renews
    as before. The reason given stays in the event log, not on the subscription."""
    sub = _locked(subscription)
    if not sub.cancel_at_period_end or sub.status not in (
        S.TRIALING,
        S.ACTIVE,
        S.PAST_DUE,
        S.PAUSED,
    ):
        raise StateError(
            "Only a cancellation scheduled for the period end can be undone.",
            code="no_scheduled_cancellation",
        )
    reason = sub.cancel_reason
    sub.cancel_at_period_end = False
    sub.canceled_at = None
    sub.cancel_reason, sub.cancel_comment = "", ""
    sub.save()
    subscription_event_record("subscription.cancel_undone", sub, at, actor, reason=reason)
    return sub


@transaction.atomic
def subscription_pause(
    *, subscription: Subscription, at: datetime, actor: Actor = None
) -> Subscription:
    sub = _locked(subscription)
    if not sub.plan.pausable:
        raise StateError(
            f"Plan {sub.plan.name} cannot be paused.", code="plan_not_pausable", field="plan"
        )
    sub.pause(at=at)
    sub.save()
    subscription_event_record("subscription.paused", sub, at, actor)
    return sub


@transaction.atomic
def subscription_resume(
    *, subscription: Subscription, at: datetime, actor: Actor = None
) -> Subscription:
    sub = _locked(subscription)
    sub.resume()
    billing_restart(sub, at)
    sub.save()
    subscription_event_record("subscription.resumed", sub, at, actor)
    return sub
