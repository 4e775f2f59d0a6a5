"""Billing usage: a period's aggregate priced by the plan's charges, as invoice lines.

The bill run bills each aggregate once it is due (its period ended, or its subscription
did) as `usage` lines, one per charge on the metric, and records the version it billed. An
event that arrives after that makes the aggregate unbilled again: the next run bills the
difference (priced on the whole period, so tiers stay right) as a late-usage line.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing import periods
from billing.models import InvoiceLine, LineKind, Subscription, UsageAggregate
from billing.services.rows import rows_update
from catalog.models import Aggregation, Charge
from catalog.money import round_money
from catalog.pricing import ChargeModel, charge_amount


def aggregate_value(aggregate: UsageAggregate, aggregation: str) -> Decimal:
    """The metric's aggregate for the period: the quantity its charges price."""
    if aggregation == Aggregation.COUNT:
        return Decimal(aggregate.event_count)
    if aggregation == Aggregation.SUM:
        return aggregate.value_sum
    if aggregation == Aggregation.MAX:
        return aggregate.value_max or Decimal(0)
    if aggregation == Aggregation.UNIQUE_COUNT:
        return Decimal(aggregate.unique_count)
    return aggregate.latest_value or Decimal(0)


def charge_price(charge: Charge, aggregate: UsageAggregate | None) -> Decimal:
    """What `charge` bills for the period's usage: exact, unrounded."""
    if aggregate is None:
        return Decimal(0)
    if charge.model == ChargeModel.PERCENTAGE:
        return aggregate.percentage_fees
    value = aggregate_value(aggregate, charge.metric.aggregation)
    return charge_amount(charge.model, charge.properties, value)


def plan_charges(plan_ids: Iterable[int]) -> dict[int, list[Charge]]:
    """The charges of these plans (with their metrics), in position order, by plan id."""
    charges: dict[int, list[Charge]] = {}
    for charge in Charge.objects.filter(plan_id__in=set(plan_ids)).select_related("metric"):
        charges.setdefault(charge.plan_id, []).append(charge)
    return charges


def in_free_trial(sub: Subscription, period_end: datetime | None) -> bool:
    """Usage of a period that ends within the trial is free."""
    return (
        sub.trial_end_at is not None and period_end is not None and period_end <= sub.trial_end_at
    )


@dataclass
class ChargeUsage:
    charge: Charge
    value: Decimal
    amount: Decimal  # rounded to the currency


def usage_priced(
    charges: Iterable[Charge], aggregates: dict[int, UsageAggregate], currency: str
) -> list[ChargeUsage]:
    """Each charge with its metric's aggregate (by metric id) and what it bills for it."""
    priced = []
    for charge in charges:
        aggregate = aggregates.get(charge.metric_id)
        value = aggregate_value(aggregate, charge.metric.aggregation) if aggregate else Decimal(0)
        amount = round_money(charge_price(charge, aggregate), currency)
        priced.append(ChargeUsage(charge=charge, value=value, amount=amount))
    return priced


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


def usage_aggregates_end(*, subscription: Subscription, at: datetime) -> None:
    """The subscription ends at `at`: its usage is due then, not at its period's end."""
    UsageAggregate.objects.filter(subscription=subscription, due_at__gt=at).update(due_at=at)
