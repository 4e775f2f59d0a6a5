"""The customer's own API keys (`/customers/{id}/service-keys/`) and seats
(`/customers/{id}/seats/`). Each view makes one service call; refusals come back as the
contract's error body (400 validation, 404 unknown, 409 limits, 422 state)."""

from datetime import timedelta

from django.http import Http404
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from api.errors import DomainError
from api.pagination import IdCursorPagination
from api.serializers import StrictSerializer
from api.views import ApiViewSet, ListRetrieveMixin, is_id, lookup_by_id_or_code, lookup_required
from catalog.models import Feature
from customers.models import Customer, CustomerUser
from provisioning.models import SeatAssignment, ServiceKey
from provisioning.services import keys, seats

KEY_TAGS = ["service keys"]
SEAT_TAGS = ["seats"]


def _customer(value: str) -> Customer:
    customer = lookup_by_id_or_code(Customer.objects.all(), value, "external_id")
    if customer is None:
        raise Http404
    return customer


def _customer_user(customer: Customer, value, field: str) -> CustomerUser:
    """A customer user by its id, or by its login's username or email."""
    users = CustomerUser.objects.filter(customer=customer).select_related("user")
    value = str(value)
    user = users.filter(pk=int(value)).first() if is_id(value) else None
    if user is None:
        user = (
            users.filter(user__username__iexact=value).first()
            or users.filter(user__email__iexact=value).order_by("pk").first()
        )
    if user is None:
        raise DomainError(
            f"No such user of this customer: {value}.", code="does_not_exist", field=field
        )
    return user


# Serializers
class ServiceKeyCreateInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=keys.SCOPES), allow_empty=False
    )


class ServiceKeyRotateInputSerializer(StrictSerializer):
    overlap_hours = serializers.IntegerField(
        min_value=0,
        max_value=keys.MAX_OVERLAP.days * 24,
        default=24,
        help_text="How long the old key keeps working beside the new one.",
    )


class ServiceKeyOutputSerializer(serializers.ModelSerializer):
    customer = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    state = serializers.SerializerMethodField(
        help_text="active | unrevealed | expiring (rotated, in its overlap) | expired | revoked. "
        "A key of a customer whose access is suspended does not work whatever its state."
    )
    unrevealed = serializers.BooleanField(
        read_only=True,
        help_text="Issued by provisioning and not yet revealed: nobody knows its secret and it "
        "does not work until the customer reveals it in the portal (once).",
    )
    revealed_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the customer revealed it in the portal; null for a key shown at its "
        "creation or not revealed yet.",
    )

    class Meta:
        model = ServiceKey
        fields = [
            "id",
            "customer",
            "name",
            "prefix",
            "scopes",
            "state",
            "created_at",
            "expires_at",
            "revoked_at",
            "rotated_from",
            "last_used_at",
            "unrevealed",
            "revealed_at",
        ]

    def get_state(self, key) -> str:
        if key.revoked_at is not None:
            return "revoked"
        if key.expires_at is None:
            return "unrevealed" if key.unrevealed else "active"
        return "expiring" if key.expires_at > timezone.now() else "expired"


class ServiceKeyCreatedOutputSerializer(ServiceKeyOutputSerializer):
    key = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The secret key, shown only in this response (null in an idempotent replay: "
        "it is not stored).",
    )

    class Meta(ServiceKeyOutputSerializer.Meta):
        fields = [*ServiceKeyOutputSerializer.Meta.fields, "key"]


class SeatAssignInputSerializer(StrictSerializer):
    feature = serializers.CharField(max_length=100, help_text="Seats feature id or code.")
    user = serializers.CharField(
        max_length=254, help_text="Customer user id, or its login's username or email."
    )


class SeatTransferInputSerializer(StrictSerializer):
    to_user = serializers.CharField(
        max_length=254, help_text="Customer user id, or its login's username or email."
    )


class SeatReductionCheckInputSerializer(StrictSerializer):
    feature = serializers.CharField(max_length=100, help_text="Seats feature id or code.")
    new_limit = serializers.IntegerField(min_value=0, allow_null=True)


class SeatReductionCheckOutputSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()


class SeatOutputSerializer(serializers.ModelSerializer):
    feature = serializers.SlugRelatedField(slug_field="code", read_only=True)
    email = serializers.EmailField(source="user.user.email", read_only=True)
    role = serializers.CharField(source="user.role", read_only=True)

    class Meta:
        model = SeatAssignment
        fields = ["id", "feature", "user", "email", "role", "assigned_at"]


class SeatFeatureCountOutputSerializer(serializers.Serializer):
    feature = serializers.CharField(source="feature.code")
    purchased = serializers.IntegerField(allow_null=True, help_text="null: unlimited.")
    assigned = serializers.IntegerField()
    available = serializers.IntegerField(allow_null=True, help_text="null: unlimited.")


class SeatPagination(IdCursorPagination):
    """The seats page carries the customer's purchased/assigned count per seats feature."""

    def get_paginated_response_schema(self, schema):
        page = super().get_paginated_response_schema(schema)
        page["required"] = [*page["required"], "features"]
        count = {"type": "integer", "nullable": True, "description": "null: unlimited."}
        page["properties"]["features"] = {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["feature", "purchased", "assigned", "available"],
                "properties": {
                    "feature": {"type": "string"},
                    "purchased": count,
                    "assigned": {"type": "integer"},
                    "available": count,
                },
            },
        }
        return page


# Views
class CustomerScopedMixin:
    queryset = None

    def customer(self) -> Customer:
        if not hasattr(self, "_customer"):
            self._customer = _customer(self.kwargs["customer"])
        return self._customer


@extend_schema_view(
    list=extend_schema(tags=KEY_TAGS, responses=ServiceKeyOutputSerializer(many=True)),
    retrieve=extend_schema(tags=KEY_TAGS, responses=ServiceKeyOutputSerializer),
    create=extend_schema(
        tags=KEY_TAGS,
        request=ServiceKeyCreateInputSerializer,
        responses={201: ServiceKeyCreatedOutputSerializer},
    ),
    rotate=extend_schema(
        tags=KEY_TAGS,
        request=ServiceKeyRotateInputSerializer,
        responses={201: ServiceKeyCreatedOutputSerializer},
    ),
    revoke=extend_schema(tags=KEY_TAGS, request=None, responses=ServiceKeyOutputSerializer),
)
class CustomerServiceKeyViewSet(CustomerScopedMixin, ListRetrieveMixin, ApiViewSet):
    """API keys the customer uses against the business's service. Only a prefix is kept
    readable; the secret is in the create/rotate response, once. A key issued by
    provisioning is `unrevealed` until the customer reveals it in the portal."""

    output_serializer_class = ServiceKeyOutputSerializer
    queryset = ServiceKey.objects.none()  # for the schema; the real one is per customer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return ServiceKey.objects.filter(customer=self.customer()).select_related("customer")

    def _created(self, key: ServiceKey, raw: str) -> Response:
        data = ServiceKeyCreatedOutputSerializer(key).data
        data["key"] = raw
        return Response(data, status=201)

    def finalize_response(self, request, response, *args, **kwargs):
        """The secret must not be kept at rest in the idempotency record: it is stored
        blanked out, and a replay answers `key: null`."""
        secret = None
        if self._idempotency_record is not None and isinstance(response.data, dict):
            secret = response.data.get("key")
            if secret:
                response.data["key"] = None
        response = super().finalize_response(request, response, *args, **kwargs)
        if secret:
            response.data["key"] = secret
        return response

    @sensitive_variables()  # an error report shows none of its variables (the secret)
    def create(self, request, customer=None):
        data = self.validated(ServiceKeyCreateInputSerializer, request.data)
        key, raw = keys.service_key_create(
            customer=self.customer(),
            name=data["name"],
            scopes=data["scopes"],
            at=timezone.now(),
            actor=request.auth,
        )
        return self._created(key, raw)

    @action(detail=True, methods=["post"])
    @sensitive_variables()
    def rotate(self, request, customer=None, pk=None):
        data = self.validated(ServiceKeyRotateInputSerializer, request.data)
        key, raw = keys.service_key_rotate(
            key=self.get_object(),
            at=timezone.now(),
            overlap=timedelta(hours=data["overlap_hours"]),
            actor=request.auth,
        )
        return self._created(key, raw)

    @action(detail=True, methods=["post"])
    def revoke(self, request, customer=None, pk=None):
        key = keys.service_key_revoke(key=self.get_object(), at=timezone.now(), actor=request.auth)
        return self.respond(key)


@extend_schema_view(
    list=extend_schema(tags=SEAT_TAGS, responses=SeatOutputSerializer(many=True)),
    retrieve=extend_schema(tags=SEAT_TAGS, responses=SeatOutputSerializer),
    create=extend_schema(
        tags=SEAT_TAGS, request=SeatAssignInputSerializer, responses={201: SeatOutputSerializer}
    ),
    unassign=extend_schema(tags=SEAT_TAGS, request=None, responses=SeatOutputSerializer),
    transfer=extend_schema(
        tags=SEAT_TAGS, request=SeatTransferInputSerializer, responses=SeatOutputSerializer
    ),
    reduction_check=extend_schema(
        tags=SEAT_TAGS,
        request=SeatReductionCheckInputSerializer,
        responses=SeatReductionCheckOutputSerializer,
        description="409 `seats_assigned` when more users hold a seat than `new_limit`: "
        "call it before lowering a subscription's seat quantity.",
    ),
)
class CustomerSeatViewSet(CustomerScopedMixin, ListRetrieveMixin, ApiViewSet):
    """Seats of the customer's seats features and who holds them; the list also gives
    purchased/assigned/available per feature (`features`)."""

    output_serializer_class = SeatOutputSerializer
    queryset = SeatAssignment.objects.none()
    pagination_class = SeatPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return SeatAssignment.objects.filter(customer=self.customer()).select_related(
            "feature", "user__user"
        )

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        counts = seats.seat_counts(customer=self.customer())
        response.data["features"] = SeatFeatureCountOutputSerializer(counts, many=True).data
        return response

    def _feature(self, value) -> Feature:
        return lookup_required(Feature.objects.all(), value, "code", "feature")

    def create(self, request, customer=None):
        data = self.validated(SeatAssignInputSerializer, request.data)
        seat = seats.seat_assign(
            customer=self.customer(),
            feature=self._feature(data["feature"]),
            user=_customer_user(self.customer(), data["user"], "user"),
            at=timezone.now(),
        )
        return self.respond(self.get_queryset().get(pk=seat.pk), status=201)

    @action(detail=True, methods=["post"])
    def unassign(self, request, customer=None, pk=None):
        seat = self.get_object()
        body = self.output_serializer_class(seat).data
        seats.seat_unassign(
            customer=self.customer(), feature=seat.feature, user=seat.user, at=timezone.now()
        )
        return Response(body)

    @action(detail=True, methods=["post"])
    def transfer(self, request, customer=None, pk=None):
        data = self.validated(SeatTransferInputSerializer, request.data)
        seat = self.get_object()
        moved = seats.seat_transfer(
            customer=self.customer(),
            feature=seat.feature,
            from_user=seat.user,
            to_user=_customer_user(self.customer(), data["to_user"], "to_user"),
            at=timezone.now(),
        )
        return self.respond(self.get_queryset().get(pk=moved.pk))

    @action(detail=False, methods=["post"], url_path="check-reduction")
    def reduction_check(self, request, customer=None):
        data = self.validated(SeatReductionCheckInputSerializer, request.data)
        seats.seats_reduction_check(
            customer=self.customer(),
            feature=self._feature(data["feature"]),
            new_limit=data["new_limit"],
        )
        return Response({"allowed": True})
