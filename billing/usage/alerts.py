"""Usage alerts: thresholds on a subscription's metric that fire once per billing period.

Firing records a `usage.threshold_reached` billing event in the ingestion's transaction,
with a dedupe key per alert and period, so concurrent ingestion fires it once; provisioning
and webhooks act on the event.
"""

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from billing.events.services import Actor, billing_event_record
from billing.subscriptions.models.addons import SubscriptionAddOn
from billing.subscriptions.models.subscriptions import Subscription
from billing.usage.models import UsageAggregate, UsageAlert, UsageAlertKind
from billing.usage.pricing import aggregate_value
from catalog.models import BillableMetric, Entitlement, FeatureKind
from customers.models import Customer

MAX_PERCENT = Decimal(1000)


def metric_quota(*, subscription: Subscription, metric: BillableMetric) -> Decimal | None:
    """The subscription's quota of `metric` per period: its plan's quota entitlements on the
    metric plus its open add-ons' (times their quantity); None when unlimited or none."""
    quotas = Entitlement.objects.filter(
        feature__kind=FeatureKind.QUOTA, feature__metric=metric, enabled=True
    )
    limits = list(quotas.filter(plan_id=subscription.plan_id).values_list("limit", flat=True))
    addons = SubscriptionAddOn.objects.filter(subscription=subscription, ended_at__isnull=True)
    for addon_id, quantity in addons.values_list("addon_id", "quantity"):
        limits += [
            None if limit is None else limit * quantity
            for limit in quotas.filter(addon_id=addon_id).values_list("limit", flat=True)
        ]
    if not limits or any(limit is None for limit in limits):
        return None
    return Decimal(sum(limits))


@transaction.atomic
def usage_alert_create(
    *,
    subscription: Subscription,
    metric: BillableMetric,
    threshold: Decimal,
    kind: str = UsageAlertKind.ABSOLUTE,
    name: str = "",
    at: datetime,
    actor: Actor = None,
) -> UsageAlert:
    errors = {}
    if kind not in UsageAlertKind.values:
        errors["kind"] = ValidationError("absolute or quota_percent.", code="invalid_choice")
    if threshold <= 0:
        errors["threshold"] = ValidationError("The threshold must be above 0.", code="min_value")
    elif kind == UsageAlertKind.QUOTA_PERCENT and threshold > MAX_PERCENT:
        errors["threshold"] = ValidationError(
            f"A percent of the quota is at most {MAX_PERCENT}.", code="max_value"
        )
    if kind == UsageAlertKind.QUOTA_PERCENT and not errors:
        if metric_quota(subscription=subscription, metric=metric) is None:
            errors["metric"] = ValidationError(
                f"The subscription has no limited quota on {metric.code}.", code="no_quota"
            )
    if metric.archived_at is not None:
        errors["metric"] = ValidationError("This metric is archived.", code="archived")
    if errors:
        raise ValidationError(errors)
    alert = UsageAlert(
        subscription=subscription, metric=metric, kind=kind, threshold=threshold, name=name
    )
    try:
        with transaction.atomic():
            alert.save()
    except IntegrityError:
        raise ValidationError(
            {"threshold": ValidationError("This alert exists already.", code="unique")}
        ) from None
    billing_event_record(
        kind="usage_alert.created",
        subject=alert,
        at=at,
        actor=actor,
        customer=subscription.customer,
        payload={"metric": metric.code, "kind": kind, "threshold": _text(threshold)},
    )
    return alert


@transaction.atomic
def usage_alert_deactivate(*, alert: UsageAlert, at: datetime, actor: Actor = None) -> UsageAlert:
    alert = (
        UsageAlert.objects.select_for_update()
        .select_related("subscription__customer")
        .get(pk=alert.pk)
    )
    if alert.active:
        alert.active = False
        alert.save(update_fields=["active"])
        billing_event_record(
            kind="usage_alert.deactivated",
            subject=alert,
            at=at,
            actor=actor,
            customer=alert.subscription.customer,
        )
    return alert


def usage_alerts_check(*, aggregates: list[UsageAggregate], at: datetime) -> int:
    """Fire the alerts these (just updated, locked) aggregates reached; returns how many
    fired. Call inside the ingestion's transaction."""
    if not aggregates:
        return 0
    alerts = UsageAlert.objects.filter(
        active=True, subscription_id__in={a.subscription_id for a in aggregates}
    ).select_related("metric", "subscription")
    by_key: dict[tuple[int, int], list[UsageAlert]] = {}
    for alert in alerts:
        by_key.setdefault((alert.subscription_id, alert.metric_id), []).append(alert)
    fired = 0
    for aggregate in aggregates:
        for alert in by_key.get((aggregate.subscription_id, aggregate.metric_id), []):
            if alert.last_fired_period_start == aggregate.period_start:
                continue
            fired += _fire_if_reached(alert, aggregate, at)
    return fired


def _text(number: Decimal) -> str:
    return format(number.normalize(), "f")


def _fire_if_reached(alert: UsageAlert, aggregate: UsageAggregate, at: datetime) -> int:
    value = aggregate_value(aggregate, alert.metric.aggregation)
    threshold = alert.threshold
    quota = None
    if alert.kind == UsageAlertKind.QUOTA_PERCENT:
        quota = metric_quota(subscription=alert.subscription, metric=alert.metric)
        if quota is None:
            return 0
        threshold = quota * alert.threshold / 100
    if value < threshold:
        return 0
    event = billing_event_record(
        kind="usage.threshold_reached",
        subject=alert,
        at=at,
        customer=Customer.objects.get(pk=aggregate.customer_id),
        payload={
            "subscription": alert.subscription_id,
            "metric": alert.metric.code,
            "kind": alert.kind,
            "threshold": _text(alert.threshold),
            "quota": None if quota is None else _text(quota),
            "value": _text(value),
            "period_start": aggregate.period_start,
            "period_end": aggregate.period_end,
        },
        dedupe_key=f"usage_alert:{alert.pk}:{aggregate.period_start.isoformat()}",
    )
    if event is None:  # fired for this period already
        return 0
    if (
        alert.last_fired_period_start is None
        or aggregate.period_start > alert.last_fired_period_start
    ):
        UsageAlert.objects.filter(pk=alert.pk).update(
            last_fired_period_start=aggregate.period_start
        )
        alert.last_fired_period_start = aggregate.period_start
    return 1
