"""Mid-cycle changes of plan, quantity or add-ons, prorated by days (see DESIGN.md, Time).

Immediately, on a plan paid in advance: a credit for the unused part of what was actually
billed for the rest of the period, and a charge for the rest of the period on the new terms.
In arrears: a charge for the part of the period used on the old terms; the bill run bills the
rest on the new terms at the period's end. A new interval restarts the schedule on the day of
the change. The lines wait on the customer's next invoice. At period end: the change is
stored and applied by the bill run at renewal.

Add-ons are the full set the subscription is to have. A recurring add-on that is added,
removed or given a new quantity is prorated like the base fee, on its own lines: its row ends
(credit for what was billed after the day of the change, or a charge for the days used and
not billed) and a new row starts (a charge for the rest of the period, in advance). The base
fee is only prorated when the plan or the quantity changes. A one-time add-on is billed once
for the units added; removing it or lowering its quantity credits nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from api.errors import StateError
from billing.events.services import Actor, subscription_event_record
from billing.invoicing.models.invoices import InvoiceLine, LineKind
from billing.invoicing.services.charges import (
    due_before_period,
    due_charges_apply,
    subscription_due_charges,
)
from billing.invoicing.services.proration import terms_close
from billing.invoicing.services.subscription_billing import addons_one_time_lines
from billing.subscriptions import periods
from billing.subscriptions.models.addons import SubscriptionAddOn
from billing.subscriptions.models.subscriptions import Subscription, SubscriptionStatus
from billing.subscriptions.services import (
    addons_errors,
    addons_open,
    subscription_locked,
    switch_terms,
)
from catalog.models import AddOn, AddOnInterval, Plan, PlanStatus

S = SubscriptionStatus


@dataclass
class ChangeResult:
    subscription: Subscription
    proration_lines: list[InvoiceLine]


@dataclass
class AddOnChange:
    """One add-on whose quantity changes: `row` is its open row (None: it is new), `quantity`
    the new quantity (0: removed)."""

    addon: AddOn
    row: SubscriptionAddOn | None
    quantity: int


def _addon_changes(
    current: dict[int, SubscriptionAddOn], wanted: list[dict] | None
) -> list[AddOnChange]:
    """The changes that turn the `current` add-ons into the `wanted` set (None: no change)."""
    if wanted is None:
        return []
    quantities = {item["addon"].pk: item["quantity"] for item in wanted}
    changes = [
        AddOnChange(row.addon, row, quantities.get(addon_id, 0))
        for addon_id, row in current.items()
        if quantities.get(addon_id, 0) != row.quantity
    ]
    changes += [
        AddOnChange(item["addon"], None, item["quantity"])
        for item in wanted
        if item["addon"].pk not in current and item["quantity"] > 0
    ]
    return changes


def _validate(
    sub: Subscription,
    plan: Plan,
    quantity: int,
    when: str,
    proration: str,
    *,
    addons: list[dict] | None,
    current: dict[int, SubscriptionAddOn],
) -> list[AddOnChange]:
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
    # The add-ons it will have (a plan with another interval may not keep recurring ones).
    kept = [{"addon": row.addon, "quantity": row.quantity} for row in current.values()]
    plans = [plan]
    if when == "immediately" and sub.scheduled_plan_id:
        plans.append(sub.scheduled_plan)
    addon_errors = addons_errors(
        currency=sub.currency,
        plans=plans,
        items=kept if addons is None else addons,
        current=current,
        minimum=0,
    )
    changes = [] if addon_errors else _addon_changes(current, addons)
    if changes and when == "period_end":
        addon_errors.append(
            ValidationError(
                "Add-ons change immediately: give them with when=immediately.",
                code="not_supported",
            )
        )
    if addon_errors:
        errors["addons"] = addon_errors
    if not errors and plan.pk == sub.plan_id and quantity == sub.quantity and not changes:
        field = "plan" if addons is None else "addons"
        errors[field] = ValidationError("Nothing to change.", code="no_change")
    if errors:
        raise ValidationError(errors)
    if sub.status not in (S.ACTIVE, S.PAST_DUE, S.TRIALING, S.PENDING):
        raise StateError(
            f"A {sub.status} subscription cannot be changed.", code="subscription_not_changeable"
        )
    return changes


def _addons_switch(
    sub: Subscription, changes: list[AddOnChange], at: datetime, bill_from: datetime | None
) -> list[tuple[SubscriptionAddOn, int]]:
    """End the rows of the changed add-ons and start the new ones at `at` (billed from
    `bill_from`, else from their start). Returns (new row, units added) pairs."""
    for change in changes:
        if change.row is not None:
            change.row.ended_at = max(at, change.row.started_at)
            change.row.save(update_fields=["ended_at", "billed_through"])
    started = []
    for change in changes:
        if change.quantity > 0:
            recurring = change.addon.interval != AddOnInterval.ONE_TIME
            row = SubscriptionAddOn.objects.create(
                subscription=sub,
                addon=change.addon,
                quantity=change.quantity,
                started_at=max(at, sub.start_at),
                billed_through=bill_from if recurring else None,
            )
            started.append((row, change.quantity - (change.row.quantity if change.row else 0)))
    return started


def _immediate(
    sub: Subscription,
    plan: Plan,
    quantity: int,
    at: datetime,
    proration: str,
    changes: list[AddOnChange],
) -> list[InvoiceLine]:
    on = periods.local_midnight(periods.local_date(at, sub.timezone), sub.timezone)
    base = plan.pk != sub.plan_id or quantity != sub.quantity
    ending = [change.row for change in changes if change.row and change.row.is_recurring]
    started_before = sub.status in (S.TRIALING, S.PENDING)
    if started_before or proration == "none":
        lines: list[InvoiceLine] = []
        if not started_before:
            # No proration: what is due before this period is billed on the old terms; the
            # new terms take the current period from where it is not billed yet.
            period = periods.period_containing(sub.schedule, at)
            before = due_before_period(sub, period)
            due_charges_apply(sub, before, ending)
            lines = list(before.lines)
            for row in ending:
                row.billed_through = max(row.billed_through or period.end, period.end)
        switch_terms(sub, plan=plan, quantity=quantity, on=on)
        bill_from = None
        if not started_before:
            bill_from = sub.billed_through or periods.period_containing(sub.schedule, at).start
        started = _addons_switch(sub, changes, at, bill_from)
        return lines + addons_one_time_lines(sub, started)
    billed_before = sub.billed_through
    lines = terms_close(sub=sub, at=at, base=base, rows=ending)
    switch_terms(sub, plan=plan, quantity=quantity, on=on)
    started = _addons_switch(sub, changes, at, None)
    new_keys = tuple(row.key_prefix for row, _ in started)
    # Dated in the past: what was billed after `at` (credited above) is billed again, on
    # the new terms and without the periods' keys, which the old terms' lines hold.
    due_by = at
    if billed_before is not None and billed_before > at:
        cut = timedelta(microseconds=1) if plan.pay_in_advance else timedelta(0)
        due_by = max(at, billed_before - cut)
    due = subscription_due_charges(sub=sub, as_of=due_by)
    for line in due.lines:
        if line.kind == LineKind.SUBSCRIPTION and base:
            line.kind, line.billing_key = LineKind.PRORATION, None
        elif new_keys and (line.billing_key or "").startswith(new_keys):
            line.kind = LineKind.PRORATION  # keeps its key: the add-on row's own billing
        else:
            continue
        line.description = f"Remaining time on {line.description}"
    due_charges_apply(sub, due)
    return lines + due.lines + addons_one_time_lines(sub, started)


def subscription_change(
    *,
    subscription: Subscription,
    at: datetime,
    plan: Plan | None = None,
    quantity: int | None = None,
    addons: list[dict] | None = None,
    when: str = "immediately",
    proration: str = "prorate",
    preview: bool = False,
    actor: Actor = None,
) -> ChangeResult:
    """Change plan, quantity and/or add-ons. `addons` is the full set of add-ons to have
    ([{"addon": AddOn, "quantity": int}]; one left out or with quantity 0 is removed), None
    to keep them. With `preview`, nothing is saved: the result holds the subscription as it
    is and the exact lines the change would create."""
    with transaction.atomic():
        sub = subscription_locked(subscription)
        plan = plan or sub.plan
        quantity = sub.quantity if quantity is None else quantity
        current = addons_open(sub)
        changes = _validate(sub, plan, quantity, when, proration, addons=addons, current=current)
        old_plan, old_quantity = sub.plan, sub.quantity
        if when == "period_end":
            sub.scheduled_plan = plan if plan.pk != sub.plan_id else None
            sub.scheduled_quantity = quantity if quantity != sub.quantity else None
            lines: list[InvoiceLine] = []
        else:
            lines = _immediate(sub, plan, quantity, at, proration, changes)
        if preview:
            transaction.set_rollback(True)
        else:
            sub.save()
            InvoiceLine.objects.bulk_create(lines)
            kind = (
                "subscription.changed" if when == "immediately" else "subscription.change_scheduled"
            )
            extra = {}
            if changes:
                extra["addons"] = [
                    {
                        "addon": change.addon.code,
                        "from_quantity": change.row.quantity if change.row else 0,
                        "quantity": change.quantity,
                    }
                    for change in changes
                ]
            subscription_event_record(
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
                **extra,
            )
    if preview:
        sub = Subscription.objects.select_related("plan", "customer").get(pk=sub.pk)
    return ChangeResult(subscription=sub, proration_lines=lines)
