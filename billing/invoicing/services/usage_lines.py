"""Billing usage: a period's aggregate priced by the plan's charges, as invoice lines.

The bill run bills each aggregate once it is due (its period ended, or its subscription
did) as `usage` lines, one per charge on the metric, and records the version it billed. An
event that arrives after that makes the aggregate unbilled again: the next run bills the
difference (priced on the whole period, so tiers stay right) as a late-usage line.
"""

from datetime import datetime
from decimal import Decimal

from billing.events.rows import rows_update
from billing.invoicing.models.invoices import InvoiceLine, LineKind
from billing.subscriptions import periods
from billing.subscriptions.models.subscriptions import Subscription
from billing.usage.models import UsageAggregate
from billing.usage.pricing import aggregate_value, in_free_trial, plan_charges, usage_priced
from catalog.models import Charge
from catalog.pricing import ChargeModel


def _period_text(aggregate: UsageAggregate, tz: str) -> str:
    start = periods.local_date(aggregate.period_start, tz)
    end = periods.local_date(aggregate.period_end, tz)
    return f"{start.isoformat()} – {end.isoformat()}"


def aggregate_lines(sub: Subscription, aggregate: UsageAggregate, charges: list[Charge]):
    """The lines that bill `aggregate` now: one per charge the first time, then one
    late-usage line for the difference. Updates the aggregate's billed fields (the caller
    saves them). Usage in a free trial bills nothing."""
    metric_charges = [c for c in charges if c.metric_id == aggregate.metric_id]
    priced = (
        []
        if in_free_trial(sub, aggregate.period_end)
        else usage_priced(metric_charges, {aggregate.metric_id: aggregate}, sub.currency)
    )
    total = sum((p.amount for p in priced), Decimal(0))
    value = aggregate_value(aggregate, aggregate.metric.aggregation)
    base = {
        "customer_id": sub.customer_id,
        "currency": sub.currency,
        "subscription": sub,
        "kind": LineKind.USAGE,
        "period_start": aggregate.period_start,
        "period_end": aggregate.period_end,
    }
    period = _period_text(aggregate, sub.timezone)
    lines = []
    if aggregate.billed_version == 0:
        for index, p in enumerate(priced):
            if p.amount == 0 and p.value == 0:
                continue
            unit = p.charge.properties.get("unit_amount", "0")
            lines.append(
                InvoiceLine(
                    **base,
                    description=f"{p.charge.metric.name} ({p.charge.model}), {period}",
                    quantity=p.value,
                    unit_amount=(
                        Decimal(unit) if p.charge.model == ChargeModel.STANDARD else Decimal(0)
                    ),
                    amount=p.amount,
                    billing_key=f"usage:{aggregate.pk}:v{aggregate.version}:{index}",
                )
            )
    elif total != aggregate.billed_amount:
        lines.append(
            InvoiceLine(
                **base,
                description=f"Late usage: {aggregate.metric.name}, {period} "
                f"({aggregate.billed_value.normalize():f} → {value.normalize():f})",
                quantity=value - aggregate.billed_value,
                amount=total - aggregate.billed_amount,
                billing_key=f"usage:{aggregate.pk}:v{aggregate.version}",
            )
        )
    aggregate.unbilled = False
    aggregate.billed_version = aggregate.version
    aggregate.billed_value, aggregate.billed_amount = value, total
    return lines


BILLED_FIELDS = ["unbilled", "billed_version", "billed_value", "billed_amount", "billed_at"]


def usage_due(as_of: datetime):
    """Aggregates due by `as_of` and not (fully) billed."""
    return UsageAggregate.objects.filter(unbilled=True, due_at__lte=as_of)


def usage_lines_due(
    *, customer_ids: list[int], subs: dict[int, Subscription], as_of: datetime
) -> list[InvoiceLine]:
    """Bill the due usage of these customers (call inside the bill run's transaction, with
    their subscriptions locked; `subs` are those, by id). The aggregates are locked in key
    order, as ingestion locks them."""
    aggregates = list(
        usage_due(as_of)
        .filter(customer_id__in=customer_ids)
        .select_related("metric")
        .select_for_update(of=("self",))
        .order_by("subscription_id", "metric_id", "period_start")
    )
    if not aggregates:
        return []
    missing = {a.subscription_id for a in aggregates} - subs.keys()
    subs = {**subs, **Subscription.objects.in_bulk(missing)}
    charges = plan_charges(subs[a.subscription_id].plan_id for a in aggregates)
    lines = []
    for aggregate in aggregates:
        sub = subs[aggregate.subscription_id]
        lines += aggregate_lines(sub, aggregate, charges.get(sub.plan_id, []))
        aggregate.billed_at = as_of
    rows_update(UsageAggregate, aggregates, BILLED_FIELDS)
    return lines
