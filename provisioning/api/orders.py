"""Orders (`/orders/`): each billing change that needed a service action, with its
fulfillment steps and their states. Read-only: operators act on orders in the admin."""

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers

from api.filters import customer_filter
from api.views import ApiViewSet, ListRetrieveMixin
from provisioning.models import FulfillmentStep, Order


class FulfillmentStepOutputSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="step_type")

    class Meta:
        model = FulfillmentStep
        fields = [
            "id",
            "key",
            "type",
            "depends_on",
            "status",
            "attempts",
            "next_attempt_at",
            "started_at",
            "finished_at",
            "result",
            "last_error",
        ]


class OrderOutputSerializer(serializers.ModelSerializer):
    customer = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    source_event = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    source_event_kind = serializers.SerializerMethodField()
    steps = FulfillmentStepOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "customer",
            "kind",
            "status",
            "source_event",
            "source_event_kind",
            "subscription_id",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "steps",
        ]

    def get_source_event_kind(self, order) -> str | None:
        return order.source_event.kind if order.source_event_id else None


class OrderFilter(django_filters.FilterSet):
    customer = customer_filter()

    class Meta:
        model = Order
        fields = ["customer", "status", "kind"]


TAGS = ["orders"]


@extend_schema_view(
    list=extend_schema(tags=TAGS, responses=OrderOutputSerializer(many=True)),
    retrieve=extend_schema(tags=TAGS, responses=OrderOutputSerializer),
)
class OrderViewSet(ListRetrieveMixin, ApiViewSet):
    """Provisioning orders: what the business's systems are told to do for a customer
    (`activate`, `change`, `suspend`, `restore`, `renew`, `cancel`, `deprovision`), with each
    fulfillment step and its state."""

    queryset = Order.objects.select_related("customer", "source_event").prefetch_related("steps")
    output_serializer_class = OrderOutputSerializer
    filterset_class = OrderFilter
