"""A customer's entitlements with usage (`GET /customers/{id}/entitlements/`) and the
real-time access check (`POST /access/check`). Each view makes one call.

Usage values (`usage`, `used`, `remaining`) are decimal strings, as metric values are
everywhere in this API (a sum metric may be fractional); limits are integers, null for
unlimited."""

from decimal import Decimal

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers
from rest_framework.response import Response

from api.auth import ApiKeyAuthentication, api_key_active
from api.schema import SingleObjectAutoSchema
from api.serializers import StrictSerializer
from api.throttling import AccessCheckRateThrottle
from api.views import ApiViewSet, lookup_by_id_or_code
from catalog.models import FeatureKind
from customers.models import Customer
from provisioning.models import AccessStatus
from provisioning.selectors import customer_entitlements_get
from provisioning.services.access import AccessReason, AccessResult, access_check

TAGS = ["entitlements"]
USAGE_HELP = "A decimal string; null for on/off features."


def number(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


# Serializers
class CustomerEntitlementOutputSerializer(serializers.Serializer):
    feature = serializers.CharField(source="feature.code")
    name = serializers.CharField(source="feature.name")
    kind = serializers.ChoiceField(source="feature.kind", choices=FeatureKind.choices)
    enabled = serializers.BooleanField()
    value = serializers.SerializerMethodField(
        help_text="As on a plan: on/off features true or false; quotas and seats their limit, "
        "null when unlimited (false when not granted)."
    )
    limit = serializers.IntegerField(
        allow_null=True, help_text="Quota per period or seats; null: unlimited (or on/off)."
    )
    usage = serializers.SerializerMethodField(
        help_text="This period's usage (quota) or the seats assigned (seats). " + USAGE_HELP
    )
    remaining = serializers.SerializerMethodField(
        help_text="limit − usage, never below 0; null when unlimited or on/off."
    )
    source = serializers.CharField(help_text="The plans, add-ons and overrides it comes from.")
    period_start = serializers.DateTimeField(
        allow_null=True, help_text="The usage period of a quota (when it has usage)."
    )
    period_end = serializers.DateTimeField(allow_null=True)

    @extend_schema_field({"oneOf": [{"type": "boolean"}, {"type": "integer"}], "nullable": True})
    def get_value(self, row) -> bool | int | None:
        if not row.enabled or row.feature.kind == FeatureKind.BOOLEAN:
            return row.enabled
        return row.limit

    def get_usage(self, row) -> str | None:
        return number(row.usage)

    def get_remaining(self, row) -> str | None:
        return number(row.remaining)


class CustomerEntitlementsOutputSerializer(serializers.Serializer):
    customer = serializers.IntegerField(source="customer.pk")
    external_id = serializers.CharField(source="customer.external_id")
    access_status = serializers.ChoiceField(choices=AccessStatus.choices)
    version = serializers.IntegerField(
        allow_null=True, help_text="Moves on with every change of the customer's access."
    )
    at = serializers.DateTimeField()
    results = CustomerEntitlementOutputSerializer(source="entitlements", many=True)


class AccessCheckInputSerializer(StrictSerializer):
    api_key = serializers.CharField(
        max_length=200, required=False, help_text="A service key of the customer (ck_live_…)."
    )
    customer = serializers.CharField(
        max_length=100, required=False, help_text="Customer id or external_id."
    )
    feature = serializers.CharField(max_length=100, help_text="Feature code.")
    quantity = serializers.IntegerField(
        min_value=0, max_value=10**12, default=1, help_text="Units the request would use."
    )

    def validate(self, attrs):
        if ("api_key" in attrs) == ("customer" in attrs):
            raise serializers.ValidationError(
                {
                    "customer": serializers.ErrorDetail(
                        "Give either api_key or customer.", code="api_key_or_customer"
                    )
                }
            )
        return attrs


class AccessCheckOutputSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=AccessReason.choices)
    limit = serializers.IntegerField(allow_null=True, help_text="null: unlimited, or on/off.")
    used = serializers.CharField(
        allow_null=True, help_text="This period's usage or the seats assigned. " + USAGE_HELP
    )
    remaining = serializers.CharField(
        allow_null=True, help_text="What is left before this request; null when unlimited."
    )


_INPUT_FIELDS = frozenset(AccessCheckInputSerializer._declared_fields)


def access_check_input(data) -> dict:
    """What `AccessCheckInputSerializer` checks, with the same error codes: the common input
    by `access_check_input_simple`, anything unusual by the serializer, which says what is
    wrong."""
    simple = access_check_input_simple(data)
    return _serializer_validated(data) if simple is None else simple


def access_check_input_simple(data) -> dict | None:
    """The validated input when `data` is the common, valid kind, checked by hand (on the
    hot path the serializer costs a quarter of a millisecond); None for anything else."""
    if not isinstance(data, dict):
        return None
    unknown = data.keys() - _INPUT_FIELDS
    feature, quantity = data.get("feature"), data.get("quantity", 1)
    simple = (
        not unknown
        and isinstance(feature, str)
        and 0 < len(feature) <= 100
        and feature == feature.strip()
        and type(quantity) is int
        and 0 <= quantity <= 10**12
        and (("api_key" in data) != ("customer" in data))
        and all(
            isinstance(data[name], str)
            and 0 < len(data[name]) <= limit
            and data[name] == data[name].strip()
            for name, limit in (("api_key", 200), ("customer", 100))
            if name in data
        )
    )
    return {**data, "quantity": quantity} if simple else None


def _serializer_validated(data) -> dict:
    serializer = AccessCheckInputSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def access_check_answer(data: dict) -> dict:
    """The response body for validated input `data`: the check, now."""
    result = access_check(
        feature_code=data["feature"],
        quantity=data["quantity"],
        customer=data.get("customer"),
        api_key=data.get("api_key"),
        at=timezone.now(),
    )
    return access_result_body(result)


def access_result_body(result: AccessResult) -> dict:
    return {
        "allowed": result.allowed,
        "reason": str(result.reason),
        "limit": result.limit,
        "used": number(result.used),
        "remaining": number(result.remaining),
    }


# Views
class AccessCheckAuthentication(ApiKeyAuthentication):
    """`ApiKeyAuthentication` with the key read by `api_key_active`'s one written-out query.
    Anything but an active key goes the parent's way, so the answers (401 and their codes)
    are the same."""

    def key_for(self, header):
        key = api_key_active(header[1]) if len(header) == 2 and header[0] == "Bearer" else None
        return key or super().key_for(header)


@extend_schema_view(
    list=extend_schema(tags=TAGS, responses=CustomerEntitlementsOutputSerializer),
)
class CustomerEntitlementViewSet(ApiViewSet):
    """Every feature the customer is provisioned with: on/off, limit, this period's usage
    and what remains."""

    queryset = Customer.objects.none()  # for the schema; the view reads through a selector
    serializer_class = CustomerEntitlementsOutputSerializer
    pagination_class = None
    schema = SingleObjectAutoSchema()  # one object with `results`, not a page

    def list(self, request, customer=None):
        found = lookup_by_id_or_code(Customer.objects.all(), customer, "external_id")
        if found is None:
            raise Http404
        state = customer_entitlements_get(customer=found, at=timezone.now())
        return Response(CustomerEntitlementsOutputSerializer(state).data)


@extend_schema_view(
    create=extend_schema(
        tags=TAGS,
        operation_id="access_check",
        auth=[{"secretKey": []}],  # AccessCheckAuthentication is ApiKeyAuthentication
        request=AccessCheckInputSerializer,
        responses={200: AccessCheckOutputSerializer},
    ),
)
class AccessCheckViewSet(ApiViewSet):
    """May this customer, or the holder of this service key, use `quantity` more of a
    feature now? Answers 200 with `allowed` and a `reason` (`ok`, `suspended`,
    `not_provisioned`, `not_entitled`, `quota_exceeded`, `seats_exhausted`,
    `invalid_api_key`, `unknown_feature`), the limit, what is used and what remains. Nothing
    is counted: usage comes from metering. A read: the `read` scope is enough."""

    required_scope = "read"
    authentication_classes = [AccessCheckAuthentication]
    throttle_classes = [AccessCheckRateThrottle]
    serializer_class = AccessCheckInputSerializer

    def create(self, request):
        return Response(access_check_answer(access_check_input(request.data)))


@extend_schema_view(create=extend_schema(exclude=True))
class AccessCheckSlashViewSet(AccessCheckViewSet):
    """`POST /access/check/`: the same check, for clients that add the slash."""
