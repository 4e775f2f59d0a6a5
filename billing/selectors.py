from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet

from billing.models import (
    BillingEvent,
    Invoice,
    InvoiceLine,
    Subscription,
    SubscriptionStatus,
    UsageAggregate,
    UsageEvent,
    UsageEventKey,
)
from billing.services.charges import subscription_due_charges
from billing.services.invoicing import invoice_totals, pending_lines
from billing.services.usage_billing import (
    ChargeUsage,
    aggregate_lines,
    aggregate_value,
    in_free_trial,
    plan_charges,
    usage_due,
    usage_priced,
)
from catalog.models import BillableMetric

S = SubscriptionStatus


def billing_event_list(
    *, after_id: int = 0, kinds: list[str] | None = None
) -> QuerySet[BillingEvent]:
    """Events after a consumer's cursor, in log order."""
    events = BillingEvent.objects.filter(id__gt=after_id).order_by("id")
    if kinds:
        events = events.filter(kind__in=kinds)
    return events


def subscription_upcoming_invoice(*, sub: Subscription) -> Invoice:
    """The invoice the next bill run would make for this subscription, with the customer's
    pending lines in its currency (unsaved; its lines are on `preview_lines`)."""
    lines: list[InvoiceLine] = []
    ended = sub.status in (S.CANCELED, S.EXPIRED)
    as_of = sub.trial_end_at if sub.status in (S.TRIALING, S.PENDING) else sub.current_period_end
    if sub.status == S.PENDING and not sub.trial_end_at:
        as_of = sub.start_at
    if not ended and sub.status != S.PAUSED and as_of is not None:
        lines = subscription_due_charges(sub=sub, as_of=as_of).lines
        if sub.cancel_at_period_end:
            lines = [ln for ln in lines if ln.period_start < sub.current_period_end]
    if as_of is not None:  # usage of the periods ending by then, priced on unsaved copies
        charges = plan_charges([sub.plan_id]).get(sub.plan_id, [])
        for aggregate in usage_due(as_of).filter(subscription=sub).select_related("metric"):
            lines += aggregate_lines(sub, aggregate, charges)
    lines = [*pending_lines(customer=sub.customer, currency=sub.currency), *lines]
    invoice = Invoice(customer=sub.customer, currency=sub.currency)
    invoice.period_start = min((ln.period_start for ln in lines), default=None)
    invoice.period_end = max((ln.period_end for ln in lines), default=None)
    invoice_totals(invoice, lines)
    invoice.preview_lines = lines
    return invoice


@dataclass
class SubscriptionUsage:
    period_start: datetime | None
    period_end: datetime | None
    currency: str
    charges: list[ChargeUsage]
    metrics: list[tuple[BillableMetric, Decimal]]  # every metric with usage in the period
    total: Decimal


def subscription_usage(*, sub: Subscription) -> SubscriptionUsage:
    """The current period's usage so far, from the aggregates (never the raw events), priced
    by the plan's charges as the bill run would price it now."""
    start, end = sub.current_period_start, sub.current_period_end
    aggregates = {
        a.metric_id: a
        for a in UsageAggregate.objects.filter(subscription=sub, period_start=start)
        .select_related("metric")
        .order_by()
    }
    priced = usage_priced(
        plan_charges([sub.plan_id]).get(sub.plan_id, []), aggregates, sub.currency
    )
    if in_free_trial(sub, end):
        for p in priced:
            p.amount = Decimal(0)
    metrics = [
        (a.metric, aggregate_value(a, a.metric.aggregation))
        for a in sorted(aggregates.values(), key=lambda a: a.metric.code)
    ]
    total = sum((p.amount for p in priced), Decimal(0))
    return SubscriptionUsage(start, end, sub.currency, priced, metrics, total)


def usage_event_get(*, transaction_id: str) -> UsageEvent | None:
    """The event stored under `transaction_id` (None if unknown, or archived)."""
    key = UsageEventKey.objects.filter(pk=transaction_id).first()
    if key is None:
        return None
    return (
        UsageEvent.objects.filter(
            subscription_id=key.subscription_id,
            timestamp=key.timestamp,
            transaction_id=transaction_id,
        )
        .select_related("metric", "aggregate")
        .first()
    )
