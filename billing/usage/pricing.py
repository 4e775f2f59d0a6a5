"""Usage pricing: an aggregate's value and its price under the plan's charges (the pure engine
is `catalog.pricing`); what a subscription's usage costs so far. Invoice lines of usage are
made by `billing.invoicing.services.usage_lines`."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.subscriptions.models.subscriptions import Subscription
from billing.usage.models import UsageAggregate
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


def usage_aggregates_end(*, subscription: Subscription, at: datetime) -> None:
    """The subscription ends at `at`: its usage is due then, not at its period's end."""
    UsageAggregate.objects.filter(subscription=subscription, due_at__gt=at).update(due_at=at)
