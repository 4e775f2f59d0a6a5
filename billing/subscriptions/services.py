"""Subscription lifecycle steps that bill nothing: checking new subscriptions and add-ons, the
open add-ons, new terms, pausing, resuming, undoing a scheduled cancellation. Creating,
advancing and cancelling bill: `billing.invoicing.services.subscription_billing`."""

from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q

from api.errors import StateError
from billing.events.services import Actor, subscription_event_record
from billing.subscriptions import periods
from billing.subscriptions.models.addons import SubscriptionAddOn
from billing.subscriptions.models.subscriptions import Subscription, SubscriptionStatus
from catalog.models import AddOnInterval, Plan, PlanStatus
from customers.models import Customer

S = SubscriptionStatus


def subscription_new_errors(
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


def subscription_new_validate(**kwargs) -> None:
    errors = subscription_new_errors(**kwargs)
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


def subscription_locked(sub: Subscription) -> Subscription:
    return (
        Subscription.objects.select_for_update().select_related("plan", "customer").get(pk=sub.pk)
    )


@transaction.atomic
def subscription_cancel_undo(
    *, subscription: Subscription, at: datetime, actor: Actor = None
) -> Subscription:
    """Keep a subscription whose cancellation at the period end is still to come: it renews
    as before. The reason given stays in the event log, not on the subscription."""
    sub = subscription_locked(subscription)
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
    sub = subscription_locked(subscription)
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
    sub = subscription_locked(subscription)
    sub.resume()
    billing_restart(sub, at)
    sub.save()
    subscription_event_record("subscription.resumed", sub, at, actor)
    return sub


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


def billing_restart(sub: Subscription, at: datetime) -> None:
    """Billing goes on at `at` after a pause or a suspension: the periods that passed meanwhile
    are not billed; the one containing `at` is, in full, by the next run (the schedule and its
    anchor are kept). Sets the current period (the caller saves `sub`); saves the add-ons."""
    current = periods.period_containing(sub.schedule, max(at, sub.start_at))
    if sub.billed_through is None or sub.billed_through < current.start:
        sub.billed_through = current.start
    rows = [
        row
        for row in subscription_addons_recurring(sub)
        if row.billed_through is None or row.billed_through < current.start
    ]
    for row in rows:  # and so do its add-ons
        row.billed_through = current.start
    SubscriptionAddOn.objects.bulk_update(rows, ["billed_through"])
    sub.set_period(current)
