"""Outbound webhook endpoints (`/webhook-endpoints/`) and their deliveries
(`/webhook-deliveries/`). The signing secret is in the answer of create and rotate-secret
only. Each view makes one service call; a refused URL or event filter is a 400."""

import django_filters
from django.utils import timezone
from django_filters.utils import translate_validation
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from api.pagination import IdCursorPagination
from api.serializers import StrictSerializer
from api.views import ApiViewSet, ListRetrieveMixin
from provisioning.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from provisioning.services import webhook_delivery, webhooks

TAGS = ["webhooks"]


# Serializers
class WebhookEndpointCreateInputSerializer(StrictSerializer):
    url = serializers.CharField(max_length=500, help_text="http:// or https:// URL.")
    events = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=100,
        required=False,
        default=list,
        help_text='Event kinds ("invoice.paid") or prefixes ("invoice.*"); empty: every event.',
    )
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class WebhookEndpointUpdateInputSerializer(StrictSerializer):
    url = serializers.CharField(max_length=500, required=False)
    events = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=100, required=False
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class WebhookEndpointOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "active",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_at",
        ]


class WebhookEndpointWithSecretOutputSerializer(WebhookEndpointOutputSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The HMAC-SHA256 signing secret. Shown here once; store it now.",
    )

    class Meta(WebhookEndpointOutputSerializer.Meta):
        fields = [*WebhookEndpointOutputSerializer.Meta.fields, "secret"]


class WebhookDeliveryAttemptOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["at", "response_code", "error", "duration_ms"]


class WebhookDeliveryOutputSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text="pending|succeeded|failed|gave_up")
    event_type = serializers.CharField(source="event.kind", read_only=True)
    attempt_log = WebhookDeliveryAttemptOutputSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "response_code",
            "response_body",
            "error",
            "created_at",
            "delivered_at",
            "attempt_log",
        ]


# Views
class WebhookDeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    event_type = django_filters.CharFilter(field_name="event__kind")

    class Meta:
        model = WebhookDelivery
        fields = ["endpoint", "status", "event_type"]


def _deliveries():
    return WebhookDelivery.objects.select_related("event").prefetch_related("attempt_log")


@extend_schema_view(
    create=extend_schema(
        tags=TAGS,
        request=WebhookEndpointCreateInputSerializer,
        responses={201: WebhookEndpointWithSecretOutputSerializer},
    ),
    list=extend_schema(tags=TAGS, responses=WebhookEndpointOutputSerializer(many=True)),
    retrieve=extend_schema(tags=TAGS, responses=WebhookEndpointOutputSerializer),
    partial_update=extend_schema(
        tags=TAGS,
        request=WebhookEndpointUpdateInputSerializer,
        responses=WebhookEndpointOutputSerializer,
    ),
    disable=extend_schema(tags=TAGS, request=None, responses=WebhookEndpointOutputSerializer),
    enable=extend_schema(tags=TAGS, request=None, responses=WebhookEndpointOutputSerializer),
    rotate_secret=extend_schema(
        tags=TAGS, request=None, responses=WebhookEndpointWithSecretOutputSerializer
    ),
    deliveries=extend_schema(tags=TAGS, responses=WebhookDeliveryOutputSerializer(many=True)),
)
class WebhookEndpointViewSet(ListRetrieveMixin, ApiViewSet):
    """Where billing events are sent, signed: `Webhook-Signature: v1=<hex HMAC-SHA256 of
    "{Webhook-Timestamp}.{body}" with the secret>`; reject timestamps older than 5 minutes."""

    queryset = WebhookEndpoint.objects.all()
    output_serializer_class = WebhookEndpointOutputSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def _with_secret(self, endpoint, secret: str, status: int = 200) -> Response:
        endpoint.secret = secret
        return Response(WebhookEndpointWithSecretOutputSerializer(endpoint).data, status=status)

    def create(self, request):
        data = self.validated(WebhookEndpointCreateInputSerializer, request.data)
        endpoint, secret = webhooks.webhook_endpoint_create(
            url=data["url"],
            events=data["events"],
            description=data["description"],
            at=timezone.now(),
        )
        return self._with_secret(endpoint, secret, status=201)

    def partial_update(self, request, pk=None):
        data = self.validated(WebhookEndpointUpdateInputSerializer, request.data)
        endpoint = webhooks.webhook_endpoint_update(
            endpoint=self.get_object(), at=timezone.now(), **data
        )
        return self.respond(endpoint)

    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        endpoint = webhooks.webhook_endpoint_disable(endpoint=self.get_object(), at=timezone.now())
        return self.respond(endpoint)

    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        endpoint = webhooks.webhook_endpoint_enable(endpoint=self.get_object(), at=timezone.now())
        return self.respond(endpoint)

    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        endpoint, secret = webhooks.webhook_endpoint_rotate_secret(
            endpoint=self.get_object(), at=timezone.now()
        )
        return self._with_secret(endpoint, secret)

    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        endpoint = self.get_object()
        filterset = WebhookDeliveryFilter(
            request.query_params, queryset=_deliveries().filter(endpoint=endpoint)
        )
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        queryset = filterset.qs
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(
            WebhookDeliveryOutputSerializer(page, many=True).data
        )


@extend_schema_view(
    list=extend_schema(tags=TAGS, responses=WebhookDeliveryOutputSerializer(many=True)),
    retrieve=extend_schema(tags=TAGS, responses=WebhookDeliveryOutputSerializer),
    redeliver=extend_schema(tags=TAGS, request=None, responses=WebhookDeliveryOutputSerializer),
)
class WebhookDeliveryViewSet(ListRetrieveMixin, ApiViewSet):
    """Each billing event sent to an endpoint, with every attempt and its answer."""

    queryset = _deliveries()
    output_serializer_class = WebhookDeliveryOutputSerializer
    filterset_class = WebhookDeliveryFilter

    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        """Send it again now (also when it succeeded or gave up); 409 while it is being sent."""
        delivery = webhook_delivery.webhook_delivery_redeliver(
            delivery=self.get_object(), at=timezone.now()
        )
        return self.respond(self.get_queryset().get(pk=delivery.pk))
