"""SLA credits: when a period's measured uptime missed what the plan's service level
promises, the customer is credited a share of that period's base fee, on its balance (the
next invoices use it). Once per subscription and period."""

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from api.errors import Conflict, StateError
from billing.events.services import Actor, actor_label, billing_event_record
from billing.invoicing.models.credits import BalanceTransactionKind
from billing.invoicing.models.sla import SlaCredit
from billing.invoicing.services.credits import balance_add
from billing.subscriptions import periods
from billing.subscriptions.models.subscriptions import Subscription
from catalog.money import format_amount, round_money
from customers.models import Customer


def _uptime_checked(uptime) -> Decimal:
    if not isinstance(uptime, Decimal) or not uptime.is_finite() or not 0 <= uptime <= 100:
        raise ValidationError({"uptime": ValidationError("A percentage from 0 to 100.")})
    return uptime


@transaction.atomic
def sla_credit_grant(
    *,
    subscription: Subscription,
    period_at: datetime,
    uptime: Decimal,
    at: datetime,
    actor: Actor = None,
    note: str = "",
) -> SlaCredit | None:
    """Credit the period of `subscription` that contains `period_at`, whose measured uptime
    was `uptime` percent: the SLA tier's percent of the period's base fee (plan amount ×
    quantity; add-ons and usage not included), rounded once. None when the uptime met the
    SLA (nothing owed). Refused for a plan without an SLA, a period not over yet, and a
    period credited already."""
    uptime = _uptime_checked(uptime)
    sub = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan__service_level", "customer")
        .get(pk=subscription.pk)
    )
    level = sub.plan.service_level
    if level is None:
        raise StateError(f"Plan {sub.plan.name} promises no SLA.", code="no_sla", field="plan")
    period = periods.period_containing(sub.schedule, max(period_at, sub.start_at))
    if period.end > at:
        raise StateError(
            "The period is not over yet: credit it once it ends.", code="period_not_ended"
        )
    if SlaCredit.objects.filter(subscription=sub, period_start=period.start).exists():
        raise Conflict("This period was credited already.", code="already_credited")
    percent = level.credit_percent(uptime)
    amount = round_money(sub.plan.amount * sub.quantity * percent / 100, sub.currency)
    if amount <= 0:
        return None
    Customer.objects.select_for_update().get(pk=sub.customer_id)  # the balance's lock
    description = (
        f"SLA credit: {uptime}% uptime against {level.uptime_target}% "
        f"({period.start_date} – {period.end_date}), {percent}% of the base fee"
    )
    entry = balance_add(
        customer=sub.customer,
        currency=sub.currency,
        amount=amount,
        kind=BalanceTransactionKind.SLA_CREDIT,
        at=at,
        description=description,
    )
    credit = SlaCredit.objects.create(
        subscription=sub,
        period_start=period.start,
        period_end=period.end,
        uptime=uptime,
        uptime_target=level.uptime_target,
        credit_percent=percent,
        amount=amount,
        currency=sub.currency,
        balance_transaction=entry,
        note=note[:300],
        created_at=at,
        created_by=actor_label(actor)[:200],
    )
    billing_event_record(
        kind="subscription.sla_credited",
        subject=sub,
        at=at,
        actor=actor,
        payload={
            "amount": format_amount(amount, sub.currency),
            "currency": sub.currency,
            "uptime": str(uptime),
            "credit_percent": str(percent),
            "period_start": period.start.isoformat(),
        },
    )
    return credit
