"""Usage API: event ingestion (one or a batch), a subscription's usage, usage alerts."""

import django_filters
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from api.errors import DomainError
from api.fields import AwareDateTimeField
from api.filters import IdOrCodeFilter
from api.serializers import StrictSerializer
from api.throttling import UsageRateThrottle
from api.views import ApiViewSet, ListRetrieveMixin, lookup_required
from billing.subscriptions.models.subscriptions import Subscription
from billing.usage.alerts import usage_alert_create, usage_alert_deactivate
from billing.usage.models import UsageAlert, UsageAlertKind, UsageEvent
from billing.usage.selectors import subscription_usage, usage_event_get
from billing.usage.services import MAX_BATCH, EventResult, usage_events_ingest
from catalog.api.fields import MoneyAmountField
from catalog.models import BillableMetric
from catalog.money import format_amount

# Schema only: events are checked by billing.usage.input, fast, one by one.


class UsageEventInputSerializer(StrictSerializer):
    transaction_id = serializers.CharField(
        max_length=255, help_text="Unique to this event; a repeat is never counted twice."
    )
    subscription = serializers.CharField(help_text="The subscription's id or external_id.")
    code = serializers.CharField(help_text="The metric's code.")
    timestamp = AwareDateTimeField(
        required=False, help_text="When the usage happened (default: now); ISO 8601 or Unix s."
    )
    properties = serializers.DictField(required=False)


class UsageEventBatchInputSerializer(StrictSerializer):
    events = UsageEventInputSerializer(many=True, max_length=MAX_BATCH)


class UsageEventOutputSerializer(serializers.ModelSerializer):
    subscription = serializers.IntegerField(source="subscription_id")
    code = serializers.CharField(source="metric.code")
    period_start = serializers.DateTimeField(source="aggregate.period_start")
    period_end = serializers.DateTimeField(source="aggregate.period_end")
    value = serializers.DecimalField(
        max_digits=38, decimal_places=12, normalize_output=True, allow_null=True
    )

    class Meta:
        model = UsageEvent
        fields = [
            "id",
            "transaction_id",
            "subscription",
            "code",
            "timestamp",
            "properties",
            "value",
            "period_start",
            "period_end",
            "received_at",
        ]


class UsageErrorSerializer(serializers.Serializer):
    type = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True)


class UsageEventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    transaction_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "duplicate", "rejected"])
    late = serializers.BooleanField(
        required=False, help_text="Counted in a period that was invoiced already."
    )
    error = UsageErrorSerializer(required=False)


class UsageEventBatchOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = UsageEventResultSerializer(many=True)


def _result(result: EventResult) -> dict:
    body = {"index": result.index, "transaction_id": result.transaction_id, "status": result.status}
    if result.status == "created":
        body["late"] = result.late
    if result.error is not None:
        body["error"] = result.error.as_dict()
    return body


def _event_body(transaction_id: str) -> dict:
    event = usage_event_get(transaction_id=transaction_id)
    if event is None:  # archived: the key outlives the event
        return {"transaction_id": transaction_id, "archived": True}
    return UsageEventOutputSerializer(event).data


@extend_schema_view(
    create=extend_schema(
        tags=["usage"],
        request=UsageEventInputSerializer,
        responses={
            201: UsageEventOutputSerializer,
            200: OpenApiResponse(UsageEventOutputSerializer, "Received before: the stored event."),
        },
    ),
    retrieve=extend_schema(tags=["usage"], responses=UsageEventOutputSerializer),
    batch=extend_schema(
        tags=["usage"],
        request=UsageEventBatchInputSerializer,
        responses={200: UsageEventBatchOutputSerializer},
    ),
)
class UsageEventViewSet(ApiViewSet):
    """Usage events. `POST /events/` takes one; `POST /events/batch/` up to 1,000, each with
    its own result. A `transaction_id` is counted once, forever; `GET /events/{transaction_id}/`
    shows the stored event."""

    queryset = UsageEvent.objects.none()
    serializer_class = UsageEventOutputSerializer
    lookup_field = "transaction_id"

    def get_throttles(self):
        """Ingestion has its own limit (API_USAGE_RATE_LIMIT); reading an event back, the
        API's."""
        if self.action in ("create", "batch"):
            return [UsageRateThrottle()]
        return super().get_throttles()

    def retrieve(self, request, transaction_id=None):
        """The event stored under a transaction_id."""
        event = usage_event_get(transaction_id=transaction_id)
        if event is None:
            raise Http404
        return Response(UsageEventOutputSerializer(event).data)

    def create(self, request):
        result = usage_events_ingest(events=[request.data], at=timezone.now(), with_events=True)[0]
        if result.error is not None:
            error = result.error
            raise DomainError(error.message, code=error.code, field=error.field)
        if result.status == "created":
            return Response(UsageEventOutputSerializer(result.event).data, status=201)
        return Response(_event_body(result.transaction_id))

    @action(detail=False, methods=["post"])
    def batch(self, request):
        data = request.data
        if not isinstance(data, dict) or not isinstance(data.get("events"), list):
            raise DomainError(
                'Send {"events": [...]}, a list of events.', code="invalid", field="events"
            )
        unknown = sorted(set(data) - {"events"})
        if unknown:
            raise DomainError("Unknown field.", code="unknown_field", field=unknown[0])
        if len(data["events"]) > MAX_BATCH:
            raise DomainError(
                f"At most {MAX_BATCH} events per batch.", code="too_many", field="events"
            )
        results = usage_events_ingest(events=data["events"], at=timezone.now())
        counts = {"created": 0, "duplicate": 0, "rejected": 0}
        for result in results:
            counts[result.status] += 1
        return Response(
            {
                "created": counts["created"],
                "duplicates": counts["duplicate"],
                "rejected": counts["rejected"],
                "results": [_result(result) for result in results],
            }
        )


class ChargeUsageOutputSerializer(serializers.Serializer):
    metric = serializers.CharField(source="charge.metric.code")
    model = serializers.CharField(source="charge.model")
    value = serializers.CharField(help_text="The metric's aggregate, a decimal string.")
    amount = MoneyAmountField()


class MetricUsageOutputSerializer(serializers.Serializer):
    metric = serializers.CharField()
    aggregation = serializers.CharField()
    value = serializers.CharField()


class SubscriptionUsageOutputSerializer(serializers.Serializer):
    period_start = serializers.DateTimeField(allow_null=True)
    period_end = serializers.DateTimeField(allow_null=True)
    currency = serializers.CharField()
    charges = ChargeUsageOutputSerializer(many=True)
    metrics = MetricUsageOutputSerializer(
        many=True, help_text="Every metric with usage in the period, charged or not."
    )
    total = MoneyAmountField()


def subscription_usage_body(sub: Subscription) -> dict:
    usage = subscription_usage(sub=sub)
    currency = usage.currency

    def number(value):
        return format(value.normalize(), "f")

    return {
        "period_start": usage.period_start,
        "period_end": usage.period_end,
        "currency": currency,
        "charges": [
            {
                "metric": p.charge.metric.code,
                "model": p.charge.model,
                "value": number(p.value),
                "amount": format_amount(p.amount, currency),
            }
            for p in usage.charges
        ],
        "metrics": [
            {"metric": metric.code, "aggregation": metric.aggregation, "value": number(value)}
            for metric, value in usage.metrics
        ],
        "total": format_amount(usage.total, currency),
    }


class UsageAlertInputSerializer(StrictSerializer):
    subscription = serializers.CharField(help_text="The subscription's id or external_id.")
    metric = serializers.CharField(help_text="The metric's code.")
    kind = serializers.ChoiceField(choices=UsageAlertKind.choices, default="absolute")
    threshold = serializers.DecimalField(
        max_digits=38, decimal_places=12, help_text="A value, or a percent of the quota."
    )
    name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class UsageAlertOutputSerializer(serializers.ModelSerializer):
    metric = serializers.SlugRelatedField(slug_field="code", read_only=True)
    threshold = serializers.DecimalField(max_digits=38, decimal_places=12, normalize_output=True)

    class Meta:
        model = UsageAlert
        fields = [
            "id",
            "subscription",
            "metric",
            "kind",
            "threshold",
            "name",
            "active",
            "last_fired_period_start",
            "created_at",
        ]


class UsageAlertFilter(django_filters.FilterSet):
    subscription = IdOrCodeFilter(
        id_field="subscription_id", code_field="subscription__external_id", what="Subscription"
    )
    metric = IdOrCodeFilter(id_field="metric_id", code_field="metric__code", what="Metric")

    class Meta:
        model = UsageAlert
        fields = ["subscription", "metric", "active"]


@extend_schema_view(
    list=extend_schema(tags=["usage"], responses=UsageAlertOutputSerializer(many=True)),
    retrieve=extend_schema(tags=["usage"], responses=UsageAlertOutputSerializer),
    create=extend_schema(
        tags=["usage"],
        request=UsageAlertInputSerializer,
        responses={201: UsageAlertOutputSerializer},
    ),
    deactivate=extend_schema(tags=["usage"], request=None, responses=UsageAlertOutputSerializer),
)
class UsageAlertViewSet(ListRetrieveMixin, ApiViewSet):
    """Thresholds on a subscription's metric. Each fires once per billing period, as the
    billing event `usage.threshold_reached` (webhooks and provisioning act on it)."""

    queryset = UsageAlert.objects.select_related("metric").order_by("pk")
    output_serializer_class = UsageAlertOutputSerializer
    filterset_class = UsageAlertFilter

    def create(self, request):
        data = self.validated(UsageAlertInputSerializer, request.data)
        sub = lookup_required(
            Subscription.objects.select_related("customer"),
            data.pop("subscription"),
            "external_id",
            "subscription",
        )
        metric = lookup_required(BillableMetric.objects.all(), data.pop("metric"), "code", "metric")
        alert = usage_alert_create(
            subscription=sub, metric=metric, at=timezone.now(), actor=request.auth, **data
        )
        return self.respond(alert, status=201)

    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        alert = usage_alert_deactivate(
            alert=self.get_object(), at=timezone.now(), actor=request.auth
        )
        return self.respond(alert)
