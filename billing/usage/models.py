"""Usage metering: raw events, their dedup keys, per-period aggregates and usage alerts.

Raw events are an append-only log (partitioned by month on PostgreSQL, see migration 0007);
what billing and the API read are the aggregates, kept up to date at ingestion.
"""

from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from billing.subscriptions.models.subscriptions import Subscription
from catalog.models import BillableMetric
from customers.models import Customer

VALUE = {"max_digits": 38, "decimal_places": 12}
# References in the high-volume tables: checked by ingestion, not by the database, and not
# indexed (every index costs each insert).
NO_CONSTRAINT = {"on_delete": models.DO_NOTHING, "db_constraint": False, "db_index": False}


class UsageEvent(models.Model):
    """One usage event as received. On PostgreSQL the table is partitioned by month of
    `timestamp` and its primary key is (id, timestamp); ids stay unique (one sequence).

    No foreign-key constraints: this is the high-volume log, written only by ingestion,
    which has checked the subscription and metric; the aggregates carry the constraints."""

    id = models.BigAutoField(primary_key=True)
    transaction_id = models.CharField(max_length=255)
    subscription = models.ForeignKey(Subscription, related_name="+", **NO_CONSTRAINT)
    metric = models.ForeignKey(BillableMetric, related_name="+", **NO_CONSTRAINT)
    aggregate = models.ForeignKey("UsageAggregate", related_name="+", **NO_CONSTRAINT)
    timestamp = models.DateTimeField()
    value = models.DecimalField(
        **VALUE, null=True, blank=True, help_text="The aggregated property, for sum/max/latest."
    )
    properties = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["subscription", "timestamp"], name="usage_event_sub_ts")]

    def __str__(self) -> str:
        return self.transaction_id


class UsageEventKey(models.Model):
    """Every transaction_id ever received: the deduplication that never expires. Kept apart
    from the events because a unique index on a partitioned table must contain the
    partition key, and because keys outlive archived events."""

    transaction_id = models.CharField(max_length=255, primary_key=True)
    subscription = models.ForeignKey(Subscription, related_name="+", **NO_CONSTRAINT)
    timestamp = models.DateTimeField()

    def __str__(self) -> str:
        return self.transaction_id


class UsageAggregate(models.Model):
    """A metric's usage by one subscription in one billing period, updated at ingestion.

    Every change bumps `version`; billing records the version it billed, so an event that
    arrives after the period was invoiced (`unbilled` again) is billed once, as an
    adjustment on the next invoice."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="usage_aggregates"
    )
    metric = models.ForeignKey(BillableMetric, on_delete=models.PROTECT, related_name="+")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    due_at = models.DateTimeField(
        help_text="When this usage can be billed: the period end, or the subscription's end."
    )
    event_count = models.BigIntegerField(default=0)
    value_sum = models.DecimalField(**VALUE, default=Decimal(0))
    value_max = models.DecimalField(**VALUE, null=True, blank=True)
    latest_value = models.DecimalField(**VALUE, null=True, blank=True)
    latest_at = models.DateTimeField(null=True, blank=True)
    unique_count = models.BigIntegerField(default=0)
    percentage_fees = models.DecimalField(
        **VALUE, default=Decimal(0), help_text="Per-event fees of percentage charges, unrounded."
    )
    version = models.PositiveIntegerField(default=0)
    unbilled = models.BooleanField(default=True)
    billed_version = models.PositiveIntegerField(default=0)
    billed_value = models.DecimalField(**VALUE, default=Decimal(0))
    billed_amount = models.DecimalField(max_digits=19, decimal_places=4, default=Decimal(0))
    billed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-period_start", "subscription", "metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "metric", "period_start"], name="usage_aggregate_unique"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gt=models.F("period_start")),
                name="usage_aggregate_period_not_empty",
            ),
        ]
        indexes = [
            models.Index(
                fields=["customer", "due_at"],
                name="usage_aggregate_unbilled",
                condition=Q(unbilled=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric_id} of {self.subscription_id} from {self.period_start:%Y-%m-%d}"

    @property
    def is_late(self) -> bool:
        """Part of this period's usage was billed already."""
        return self.billed_version > 0


class UsageDistinctValue(models.Model):
    """The distinct values seen for a unique_count metric, per subscription and period (what
    `UsageAggregate.unique_count` counts). Keyed like the aggregate, so ingestion claims its
    values before it locks the aggregate."""

    pk = models.CompositePrimaryKey("subscription_id", "metric_id", "period_start", "value")
    subscription = models.ForeignKey(Subscription, related_name="+", **NO_CONSTRAINT)
    metric = models.ForeignKey(BillableMetric, related_name="+", **NO_CONSTRAINT)
    period_start = models.DateTimeField()
    value = models.CharField(max_length=255)

    def __str__(self) -> str:
        return self.value


class UsageAlertKind(models.TextChoices):
    ABSOLUTE = "absolute", "Absolute value"
    QUOTA_PERCENT = "quota_percent", "Percent of the quota"


class UsageAlert(models.Model):
    """A usage threshold of a subscription's metric that fires once per billing period,
    as a `usage.threshold_reached` billing event."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="usage_alerts"
    )
    metric = models.ForeignKey(BillableMetric, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(
        max_length=20, choices=UsageAlertKind.choices, default=UsageAlertKind.ABSOLUTE
    )
    threshold = models.DecimalField(
        **VALUE,
        help_text="The value (absolute) or the percent of the metric's quota (quota_percent).",
    )
    name = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    last_fired_period_start = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subscription", "metric", "threshold"]
        indexes = [models.Index(fields=["subscription", "metric"], name="usage_alert_sub_metric")]
        constraints = [
            models.CheckConstraint(condition=Q(threshold__gt=0), name="usage_alert_positive"),
            models.UniqueConstraint(
                fields=["subscription", "metric", "kind", "threshold"],
                name="usage_alert_unique",
            ),
        ]

    def __str__(self) -> str:
        unit = "%" if self.kind == UsageAlertKind.QUOTA_PERCENT else ""
        threshold = "?" if self.threshold is None else format(self.threshold.normalize(), "f")
        return f"{self.name or self.metric_id} ≥ {threshold}{unit}"
