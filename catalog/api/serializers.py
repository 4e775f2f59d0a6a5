from rest_framework import serializers

from api.serializers import StrictSerializer
from catalog.api.fields import MoneyAmountField, amount_field, charge_properties_out
from catalog.models import (
    CHARGE_MODEL_CHOICES,
    AddOn,
    AddOnInterval,
    Aggregation,
    BillableMetric,
    Charge,
    Entitlement,
    Feature,
    FeatureKind,
    Interval,
    Plan,
    PlanStatus,
    Product,
    ServiceLevel,
    TaxBehavior,
    TaxCode,
)
from catalog.validators import code_validator, validate_currency

MAX_ITEMS = 100


def code_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=100, validators=[code_validator], **kwargs)


def currency_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        min_length=3, max_length=3, validators=[validate_currency], **kwargs
    )


def text(max_length: int, **kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, **kwargs)


TAX_BEHAVIOR_HELP = (
    "exclusive: tax is added on top of the price; inclusive: the price is the gross the "
    "customer pays (invoice lines show its net). Default: exclusive."
)
TAX_CODE_HELP = "What is sold, for its tax rate: saas, digital, services or exempt. Default: saas."


def tax_behavior_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=TaxBehavior.choices, required=False, help_text=TAX_BEHAVIOR_HELP
    )


def tax_code_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=TaxCode.choices, required=False, help_text=TAX_CODE_HELP)


# Products
class ProductOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "code", "name", "description", "active", "created_at"]


class ProductCreateInputSerializer(StrictSerializer):
    code = code_field()
    name = text(200)
    description = text(5000, required=False, allow_blank=True, default="")


class ProductUpdateInputSerializer(StrictSerializer):
    name = text(200, required=False)
    description = text(5000, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)


# Metrics
class MetricOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = BillableMetric
        fields = [
            "id",
            "code",
            "name",
            "description",
            "aggregation",
            "field",
            "archived_at",
            "created_at",
        ]


class MetricCreateInputSerializer(StrictSerializer):
    code = code_field()
    name = text(200)
    description = text(5000, required=False, allow_blank=True, default="")
    aggregation = serializers.ChoiceField(choices=Aggregation.choices)
    field = text(100, required=False, allow_blank=True, allow_null=True, default="")


class NameDescriptionInputSerializer(StrictSerializer):
    name = text(200, required=False)
    description = text(5000, required=False, allow_blank=True)


# Features
class FeatureOutputSerializer(serializers.ModelSerializer):
    metric = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = Feature
        fields = ["id", "code", "name", "description", "kind", "metric", "created_at"]


class FeatureCreateInputSerializer(StrictSerializer):
    code = code_field()
    name = text(200)
    description = text(5000, required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=FeatureKind.choices)
    metric = serializers.SlugRelatedField(
        slug_field="code", queryset=BillableMetric.objects.all(), required=False, allow_null=True
    )


# Plans and add-ons
class ChargeOutputSerializer(serializers.ModelSerializer):
    metric = serializers.SlugRelatedField(slug_field="code", read_only=True)
    properties = serializers.SerializerMethodField(
        help_text="Money amounts with the currency's minor digits; unit amounts and rates "
        "without trailing zeros (at least the minor digits for unit amounts)."
    )

    class Meta:
        model = Charge
        fields = ["id", "metric", "model", "properties"]

    def get_properties(self, charge) -> dict:
        return charge_properties_out(charge.properties, charge.plan.currency)


class EntitlementOutputSerializer(serializers.ModelSerializer):
    feature = serializers.SlugRelatedField(slug_field="code", read_only=True)
    value = serializers.JSONField(
        read_only=True, help_text="true/false, a limit, or null (unlimited)"
    )

    class Meta:
        model = Entitlement
        fields = ["feature", "value"]


class ChargeInputSerializer(StrictSerializer):
    metric = serializers.SlugRelatedField(slug_field="code", queryset=BillableMetric.objects.all())
    model = serializers.ChoiceField(choices=CHARGE_MODEL_CHOICES)
    properties = serializers.DictField(required=False, default=dict)


class EntitlementInputSerializer(StrictSerializer):
    feature = serializers.SlugRelatedField(slug_field="code", queryset=Feature.objects.all())
    value = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true/false for an on/off feature; a whole-number limit or null (unlimited).",
    )


class ServiceLevelOutputSerializer(serializers.ModelSerializer):
    uptime_target = serializers.DecimalField(max_digits=6, decimal_places=3, read_only=True)
    credit_tiers = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        read_only=True,
        help_text='[{"below": "99.9", "credit_percent": "10"}]: uptime under `below` percent '
        "earns `credit_percent` of the period's base fee.",
    )

    class Meta:
        model = ServiceLevel
        fields = ["code", "name", "uptime_target", "response_time", "credit_tiers", "description"]


class PlanOutputSerializer(serializers.ModelSerializer):
    product = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    service_level = ServiceLevelOutputSerializer(read_only=True, allow_null=True)
    amount = MoneyAmountField()
    charges = ChargeOutputSerializer(many=True, read_only=True)
    entitlements = EntitlementOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Plan
        fields = [
            "id",
            "code",
            "version",
            "is_latest",
            "name",
            "description",
            "product",
            "currency",
            "interval",
            "interval_count",
            "amount",
            "pay_in_advance",
            "trial_days",
            "pausable",
            "service_level",
            "tax_behavior",
            "tax_code",
            "status",
            "charges",
            "entitlements",
            "created_at",
        ]


class PlanCreateInputSerializer(StrictSerializer):
    code = code_field()
    name = text(200)
    description = text(5000, required=False, allow_blank=True, default="")
    product = serializers.SlugRelatedField(
        slug_field="code", queryset=Product.objects.all(), required=False, allow_null=True
    )
    currency = currency_field()
    interval = serializers.ChoiceField(choices=Interval.choices, default=Interval.MONTH)
    interval_count = serializers.IntegerField(min_value=1, max_value=365, default=1)
    amount = amount_field(default="0")
    pay_in_advance = serializers.BooleanField(default=True)
    trial_days = serializers.IntegerField(min_value=0, max_value=3650, default=0)
    pausable = serializers.BooleanField(
        default=True, help_text="Customers may pause and resume subscriptions to this plan."
    )
    service_level = serializers.SlugRelatedField(
        slug_field="code", queryset=ServiceLevel.objects.all(), required=False, allow_null=True
    )
    tax_behavior = tax_behavior_field()
    tax_code = tax_code_field()
    charges = ChargeInputSerializer(many=True, required=False, default=list, max_length=MAX_ITEMS)
    entitlements = EntitlementInputSerializer(
        many=True, required=False, default=list, max_length=MAX_ITEMS
    )


class PlanUpdateInputSerializer(StrictSerializer):
    name = text(200, required=False)
    description = text(5000, required=False, allow_blank=True)
    product = serializers.SlugRelatedField(
        slug_field="code", queryset=Product.objects.all(), required=False, allow_null=True
    )
    interval = serializers.ChoiceField(choices=Interval.choices, required=False)
    interval_count = serializers.IntegerField(min_value=1, max_value=365, required=False)
    amount = amount_field(required=False)
    pay_in_advance = serializers.BooleanField(required=False)
    trial_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    pausable = serializers.BooleanField(required=False)
    service_level = serializers.SlugRelatedField(
        slug_field="code", queryset=ServiceLevel.objects.all(), required=False, allow_null=True
    )
    status = serializers.ChoiceField(choices=PlanStatus.choices, required=False)
    charges = ChargeInputSerializer(many=True, required=False, max_length=MAX_ITEMS)
    entitlements = EntitlementInputSerializer(many=True, required=False, max_length=MAX_ITEMS)


class AddOnOutputSerializer(serializers.ModelSerializer):
    amount = MoneyAmountField()
    entitlements = EntitlementOutputSerializer(many=True, read_only=True)

    class Meta:
        model = AddOn
        fields = [
            "id",
            "code",
            "name",
            "description",
            "currency",
            "amount",
            "interval",
            "tax_behavior",
            "tax_code",
            "active",
            "entitlements",
            "created_at",
        ]


class AddOnCreateInputSerializer(StrictSerializer):
    code = code_field()
    name = text(200)
    description = text(5000, required=False, allow_blank=True, default="")
    currency = currency_field()
    amount = amount_field()
    interval = serializers.ChoiceField(choices=AddOnInterval.choices)
    tax_behavior = tax_behavior_field()
    tax_code = tax_code_field()
    entitlements = EntitlementInputSerializer(
        many=True, required=False, default=list, max_length=MAX_ITEMS
    )


class AddOnUpdateInputSerializer(StrictSerializer):
    name = text(200, required=False)
    description = text(5000, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)
