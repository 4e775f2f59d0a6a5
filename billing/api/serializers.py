from rest_framework import serializers

from api.serializers import StrictSerializer
from billing.models import BillRun, Invoice, InvoiceLine, Subscription
from catalog.api.fields import AmountsInCurrencyMixin
from catalog.money import format_amount


class SubscriptionOutputSerializer(serializers.ModelSerializer):
    customer = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    plan = serializers.SlugRelatedField(slug_field="code", read_only=True)
    plan_version = serializers.IntegerField(source="plan.version", read_only=True)

    class Meta:
        model = Subscription
        fields = [
            "id",
            "external_id",
            "customer",
            "plan",
            "plan_version",
            "status",
            "quantity",
            "currency",
            "start_at",
            "billing_day",
            "trial_end_at",
            "current_period_start",
            "current_period_end",
            "billed_through",
            "cancel_at_period_end",
            "canceled_at",
            "ended_at",
            "cancel_reason",
            "paused_at",
            "created_at",
        ]


class SubscriptionCreateInputSerializer(StrictSerializer):
    customer = serializers.CharField(max_length=100, help_text="Customer id or external_id.")
    plan = serializers.CharField(max_length=100, help_text="Plan code (latest version) or id.")
    external_id = serializers.CharField(max_length=100, required=False, allow_null=True)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    start_at = serializers.DateTimeField(required=False, allow_null=True)
    trial_days = serializers.IntegerField(
        min_value=0, max_value=3650, required=False, allow_null=True
    )
    billing_day = serializers.IntegerField(
        min_value=1, max_value=31, required=False, allow_null=True
    )


class SubscriptionCancelInputSerializer(StrictSerializer):
    when = serializers.ChoiceField(choices=["immediately", "period_end"], default="period_end")
    reason = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    at = serializers.DateTimeField(required=False, allow_null=True)


class SubscriptionChangeInputSerializer(StrictSerializer):
    plan = serializers.CharField(
        max_length=100, required=False, help_text="Plan code (latest version) or id."
    )
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    when = serializers.ChoiceField(choices=["immediately", "period_end"], default="immediately")
    proration = serializers.ChoiceField(choices=["prorate", "none"], default="prorate")
    preview = serializers.BooleanField(default=False)
    at = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, data):
        if "plan" not in data and "quantity" not in data:
            raise serializers.ValidationError(
                "Give a plan, a quantity, or both.", code="nothing_to_change"
            )
        return data


class AtInputSerializer(StrictSerializer):
    at = serializers.DateTimeField(required=False, allow_null=True)


class InvoiceLineOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceLine
        fields = [
            "kind",
            "description",
            "quantity",
            "unit_amount",
            "amount",
            "period_start",
            "period_end",
            "tax_rate",
            "tax_amount",
            "subscription",
        ]

    def to_representation(self, line):
        data = super().to_representation(line)
        currency = self.context.get("currency") or line.invoice.currency
        for name in ("amount", "tax_amount"):
            data[name] = format_amount(getattr(line, name), currency)
        data["unit_amount"] = format(line.unit_amount.normalize(), "f")
        data["quantity"] = format(line.quantity.normalize(), "f")
        return data


class InvoiceOutputSerializer(AmountsInCurrencyMixin, serializers.ModelSerializer):
    amount_fields = ("subtotal", "discount", "tax", "total", "amount_paid", "amount_due")
    customer = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    lines = serializers.SerializerMethodField()
    subtotal = discount = tax = total = amount_paid = amount_due = serializers.CharField(
        read_only=True
    )

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "customer",
            "currency",
            "status",
            "issued_at",
            "due_at",
            "paid_at",
            "period_start",
            "period_end",
            "lines",
            "subtotal",
            "discount",
            "tax",
            "total",
            "amount_paid",
            "amount_due",
            "created_at",
        ]

    def get_lines(self, invoice) -> InvoiceLineOutputSerializer(many=True):
        lines = getattr(invoice, "preview_lines", None)
        if lines is None:
            lines = invoice.lines.all()
        return InvoiceLineOutputSerializer(
            lines, many=True, context={"currency": invoice.currency}
        ).data


class SubscriptionChangeOutputSerializer(SubscriptionOutputSerializer):
    scheduled_plan = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    proration_lines = serializers.SerializerMethodField()
    preview = serializers.SerializerMethodField()

    class Meta(SubscriptionOutputSerializer.Meta):
        fields = [
            *SubscriptionOutputSerializer.Meta.fields,
            "scheduled_plan",
            "scheduled_quantity",
            "preview",
            "proration_lines",
        ]

    def get_proration_lines(self, sub) -> InvoiceLineOutputSerializer(many=True):
        return InvoiceLineOutputSerializer(
            self.context["lines"], many=True, context={"currency": sub.currency}
        ).data

    def get_preview(self, sub) -> bool:
        return self.context["preview"]


class BillRunInputSerializer(StrictSerializer):
    as_of = serializers.DateTimeField()


class BillRunOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = BillRun
        fields = [
            "id",
            "as_of",
            "status",
            "started_at",
            "finished_at",
            "customers_seen",
            "invoices_created",
            "lines_created",
            "error",
        ]
