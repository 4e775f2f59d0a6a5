"""Reads of provisioning: a customer's entitlements with their usage.

Usage of a quota feature is the current period's aggregate of the feature's metric over the
customer's subscriptions (`billing.UsageAggregate` rows whose period contains `at`, read,
never written); usage of a seats feature is the number of seats assigned.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count

from billing.models import UsageAggregate
from catalog.models import Aggregation, Feature, FeatureKind
from customers.models import Customer
from provisioning.models import AccessStatus, CustomerAccess, ProvisionedEntitlement, SeatAssignment

ZERO = Decimal(0)


@dataclass(frozen=True)
class PeriodUsage:
    value: Decimal
    period_start: datetime | None = None
    period_end: datetime | None = None


def quota_usage(
    *, customer_id: int, metrics: dict[int, str], at: datetime
) -> dict[int, PeriodUsage]:
    """Usage by metric id (`metrics`: metric id → aggregation) in the period containing `at`,
    over all the customer's subscriptions: counts and sums add up, `max` takes the largest,
    `latest` the most recent value. One query; a metric without usage is absent."""
    if not metrics:
        return {}
    rows = (
        UsageAggregate.objects.filter(
            customer_id=customer_id,
            metric_id__in=list(metrics),
            period_start__lte=at,
            period_end__gt=at,
        )
        .order_by()
        .values_list(
            "metric_id",
            "event_count",
            "value_sum",
            "value_max",
            "unique_count",
            "latest_value",
            "latest_at",
            "period_start",
            "period_end",
        )
    )
    found: dict[int, PeriodUsage] = {}
    latest_at: dict[int, datetime] = {}
    for metric_id, count, total, most, unique, latest, latest_when, start, end in rows:
        aggregation = metrics[metric_id]
        before = found.get(metric_id)
        value = before.value if before else ZERO
        if aggregation == Aggregation.COUNT:
            value += count
        elif aggregation == Aggregation.SUM:
            value += total
        elif aggregation == Aggregation.UNIQUE_COUNT:
            value += unique
        elif aggregation == Aggregation.MAX:
            value = max(value, most or ZERO)
        elif latest_when is not None and (
            metric_id not in latest_at or latest_when > latest_at[metric_id]
        ):
            latest_at[metric_id] = latest_when
            value = latest or ZERO
        if before is not None:  # several subscriptions: the span of their periods
            start, end = min(start, before.period_start), max(end, before.period_end)
        found[metric_id] = PeriodUsage(value, start, end)
    return found


def seats_used(*, customer_id: int, feature_ids: list[int] | None = None) -> dict[int, int]:
    """Seats assigned by feature id (absent: none)."""
    seats = SeatAssignment.objects.filter(customer_id=customer_id)
    if feature_ids is not None:
        seats = seats.filter(feature_id__in=feature_ids)
    return dict(
        seats.order_by()
        .values_list("feature_id")
        .annotate(n=Count("pk"))
        .values_list("feature_id", "n")
    )


@dataclass(frozen=True)
class EntitlementUsage:
    feature: Feature
    enabled: bool
    limit: int | None
    usage: Decimal | None  # None for boolean features
    remaining: Decimal | None  # None when unlimited, or for boolean features
    source: str
    period_start: datetime | None = None
    period_end: datetime | None = None


def remaining_of(limit: int | None, used: Decimal) -> Decimal | None:
    return None if limit is None else max(Decimal(limit) - used, ZERO)


@dataclass(frozen=True)
class CustomerEntitlements:
    customer: Customer
    access_status: str  # an AccessStatus; "none" when the customer was never provisioned
    version: int | None
    at: datetime
    entitlements: list[EntitlementUsage]


def customer_entitlements_get(*, customer: Customer, at: datetime) -> CustomerEntitlements:
    """The customer's access state and its entitlements with usage at `at`. Four queries."""
    access = CustomerAccess.objects.filter(customer=customer).values_list("status", "version")
    status, version = access.first() or (AccessStatus.NONE, None)
    return CustomerEntitlements(
        customer=customer,
        access_status=status,
        version=version,
        at=at,
        entitlements=customer_entitlement_list(customer=customer, at=at),
    )


def customer_entitlement_list(*, customer: Customer, at: datetime) -> list[EntitlementUsage]:
    """The customer's provisioned entitlements with usage at `at`, by feature code. Three
    queries, whatever the number of features."""
    held = list(
        ProvisionedEntitlement.objects.filter(customer=customer)
        .select_related("feature__metric")
        .order_by("feature__code")
    )
    metrics = {
        row.feature.metric_id: row.feature.metric.aggregation
        for row in held
        if row.feature.kind == FeatureKind.QUOTA and row.feature.metric_id
    }
    usage = quota_usage(customer_id=customer.pk, metrics=metrics, at=at)
    seats = (
        seats_used(customer_id=customer.pk)
        if any(row.feature.kind == FeatureKind.SEATS for row in held)
        else {}
    )
    result = []
    for row in held:
        feature, limit = row.feature, row.limit if row.enabled else 0
        if feature.kind == FeatureKind.BOOLEAN:
            result.append(EntitlementUsage(feature, row.enabled, None, None, None, row.source))
            continue
        if feature.kind == FeatureKind.QUOTA:
            period = usage.get(feature.metric_id) or PeriodUsage(ZERO)
            used, start, end = period.value, period.period_start, period.period_end
        else:
            used, start, end = Decimal(seats.get(feature.pk, 0)), None, None
        result.append(
            EntitlementUsage(
                feature,
                row.enabled,
                limit,
                used,
                remaining_of(limit, used),
                row.source,
                start,
                end,
            )
        )
    return result
