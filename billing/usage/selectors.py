"""Reading usage: a subscription's current period so far, an event by its transaction id."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.subscriptions.models.subscriptions import Subscription
from billing.usage.models import UsageAggregate, UsageEvent, UsageEventKey
from billing.usage.pricing import (
    ChargeUsage,
    aggregate_value,
    in_free_trial,
    plan_charges,
    usage_priced,
)
from catalog.models import BillableMetric


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
