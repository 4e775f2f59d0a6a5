from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from rest_framework import serializers

from api.fields import AwareDateTimeField
from api.serializers import StrictSerializer
from billing.invoicing.models.invoices import BillRun, BillRunFailure, Invoice, InvoiceLine
from billing.invoicing.models.sla import SlaCredit
from billing.subscriptions.models.addons import SubscriptionAddOn
from billing.subscriptions.models.subscriptions import Subscription
from billing.tax.api.serializers import TaxAmountOutputSerializer, taxes_out
from catalog.api.fields import MoneyAmountField, UnitAmountField


class SubscriptionAddOnOutputSerializer(serializers.ModelSerializer):
    addon = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = SubscriptionAddOn
        fields = ["addon", "quantity", "started_at"]


MAX_YEARS = 10


def within_years(years: int):
    """Refuses instants more than `years` from now: backdating or simulating further than
    that is a data migration, not an API call (and would bill thousands of periods)."""

    def check(value):
        if abs(value - timezone.now()) > timedelta(days=365 * years):
            raise serializers.ValidationError(
                f"Must be within {years} years of now.", code="out_of_range"
            )

    return check


class SubscriptionOutputSerializer(serializers.ModelSerializer):
    customer = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    plan = serializers.SlugRelatedField(slug_field="code", read_only=True)
    plan_version = serializers.IntegerField(source="plan.version", read_only=True)
    addons = serializers.SerializerMethodField(help_text="The add-ons it has now.")

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
            "addons",
            "created_at",
        ]

    def get_addons(self, sub) -> SubscriptionAddOnOutputSerializer(many=True):
        rows = getattr(sub, "current_addons", None)
        if rows is None:
            rows = sub.addons.filter(ended_at__isnull=True).select_related("addon").order_by("pk")
        return SubscriptionAddOnOutputSerializer(rows, many=True).data


class SubscriptionAddOnInputSerializer(StrictSerializer):
    addon = serializers.CharField(max_length=100, help_text="Add-on code or id.")
    quantity = serializers.IntegerField(
        min_value=0, max_value=1_000_000, default=1, help_text="0 removes it (on a change)."
    )


class SubscriptionCreateInputSerializer(StrictSerializer):
    customer = serializers.CharField(max_length=100, help_text="Customer id or external_id.")
    plan = serializers.CharField(max_length=100, help_text="Plan code (latest version) or id.")
    external_id = serializers.CharField(max_length=100, required=False, allow_null=True)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    start_at = AwareDateTimeField(
        required=False, allow_null=True, validators=[within_years(MAX_YEARS)]
    )
    trial_days = serializers.IntegerField(
        min_value=0, max_value=3650, required=False, allow_null=True
    )
    billing_day = serializers.IntegerField(
        min_value=1, max_value=31, required=False, allow_null=True
    )
    addons = SubscriptionAddOnInputSerializer(
        many=True, required=False, help_text="Add-ons it starts with (billed from its start)."
    )


class SubscriptionCancelInputSerializer(StrictSerializer):
    when = serializers.ChoiceField(
        choices=["immediately", "period_end"],
        default="period_end",
        help_text="period_end: it stays live until its current period ends (a trial: until the "
        "trial ends, and nothing is billed); immediately: it ends at `at`.",
    )
    proration = serializers.ChoiceField(
        choices=["prorate", "none"],
        default="prorate",
        help_text="When immediately: credit what was billed for the rest of the period and "
        "charge the days used but not billed (prorate), or neither (none).",
    )
    reason = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    at = AwareDateTimeField(required=False, allow_null=True, validators=[within_years(MAX_YEARS)])


class SubscriptionChangeInputSerializer(StrictSerializer):
    plan = serializers.CharField(
        max_length=100, required=False, help_text="Plan code (latest version) or id."
    )
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    addons = SubscriptionAddOnInputSerializer(
        many=True,
        required=False,
        help_text="The full set of add-ons to have: one left out, or with quantity 0, is removed.",
    )
    when = serializers.ChoiceField(choices=["immediately", "period_end"], default="immediately")
    proration = serializers.ChoiceField(choices=["prorate", "none"], default="prorate")
    preview = serializers.BooleanField(default=False)
    at = AwareDateTimeField(required=False, allow_null=True, validators=[within_years(MAX_YEARS)])

    def validate(self, data):
        if "plan" not in data and "quantity" not in data and "addons" not in data:
            raise serializers.ValidationError(
                "Give a plan, a quantity, add-ons, or several.", code="nothing_to_change"
            )
        return data


class SlaCreditInputSerializer(StrictSerializer):
    period_at = AwareDateTimeField(
        validators=[within_years(MAX_YEARS)], help_text="Any instant of the (ended) period."
    )
    uptime = serializers.DecimalField(
        max_digits=6,
        decimal_places=3,
        min_value=0,
        max_value=100,
        help_text="The period's measured uptime, in percent.",
    )
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class SlaCreditOutputSerializer(serializers.ModelSerializer):
    amount = MoneyAmountField()

    class Meta:
        model = SlaCredit
        fields = [
            "id",
            "subscription",
            "period_start",
            "period_end",
            "uptime",
            "uptime_target",
            "credit_percent",
            "amount",
            "currency",
            "note",
            "created_at",
            "created_by",
        ]


class SlaCreditResultSerializer(serializers.Serializer):
    credited = serializers.BooleanField(help_text="False: the uptime met the SLA.")
    credit = SlaCreditOutputSerializer(allow_null=True)


class AtInputSerializer(StrictSerializer):
    at = AwareDateTimeField(required=False, allow_null=True, validators=[within_years(MAX_YEARS)])


class InvoiceLineOutputSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="What a credit note's `lines` name; null for a line not stored (a preview).",
    )
    quantity = serializers.SerializerMethodField(
        help_text='A decimal string without trailing zeros ("3", "2.5").'
    )
    unit_amount = UnitAmountField()
    amount = MoneyAmountField(help_text="Net of tax.")
    tax_rate = serializers.DecimalField(
        max_digits=7,
        decimal_places=4,
        read_only=True,
        help_text="Percent: the sum of the rates of the line's taxes.",
    )
    tax_amount = MoneyAmountField()
    taxes = serializers.SerializerMethodField(
        help_text="The line's taxes, one per component (a Canadian sale may have GST and "
        "PST); a sale without tax has one at rate 0 whose `reason` says why. Empty: not "
        "taxed yet.",
    )

    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "kind",
            "description",
            "quantity",
            "unit_amount",
            "amount",
            "period_start",
            "period_end",
            "tax_rate",
            "tax_amount",
            "taxes",
            "subscription",
        ]

    def get_quantity(self, line) -> str:
        return format(Decimal(line.quantity).normalize(), "f")

    def get_taxes(self, line) -> TaxAmountOutputSerializer(many=True):
        return taxes_out(line.taxes, line.currency or self.context.get("currency"))


class InvoiceOutputSerializer(serializers.ModelSerializer):
    customer = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    lines = serializers.SerializerMethodField()
    subtotal = MoneyAmountField()
    discount = MoneyAmountField()
    tax = MoneyAmountField()
    taxes = serializers.SerializerMethodField(
        help_text="The invoice's tax, one row per tax name, jurisdiction, rate and reason.",
    )
    tax_notes = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="What the invoice must state about its tax (e.g. the reverse charge).",
    )
    tax_date = serializers.DateField(
        read_only=True,
        allow_null=True,
        help_text="The tax point (the customer's local day of finalization) whose rates "
        "apply; null: not taxed yet.",
    )
    buyer_tax_id = serializers.CharField(
        read_only=True,
        help_text="The customer's VAT/GST number when it was valid at taxing; blank otherwise.",
    )
    total = MoneyAmountField()
    amount_paid = MoneyAmountField()
    amount_due = MoneyAmountField()

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "payment_reference",
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
            "taxes",
            "tax_notes",
            "tax_date",
            "buyer_tax_id",
            "total",
            "amount_paid",
            "amount_due",
            "created_at",
        ]

    def get_taxes(self, invoice) -> TaxAmountOutputSerializer(many=True):
        return taxes_out(invoice.taxes, invoice.currency)

    def get_lines(self, invoice) -> InvoiceLineOutputSerializer(many=True):
        lines = getattr(invoice, "preview_lines", None)
        if lines is None:
            lines = invoice.lines.all()
        return InvoiceLineOutputSerializer(
            lines, many=True, context={"currency": invoice.currency}
        ).data


class UpcomingInvoiceOutputSerializer(InvoiceOutputSerializer):
    """An invoice not stored yet: no id, no creation time."""

    id = serializers.IntegerField(allow_null=True, read_only=True, help_text="Null: not stored.")
    created_at = serializers.DateTimeField(allow_null=True, read_only=True)


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
    as_of = AwareDateTimeField(validators=[within_years(MAX_YEARS)])


class BillRunFailureOutputSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(
        source="customer_id", allow_null=True, help_text="The customer's id (null if deleted)."
    )

    class Meta:
        model = BillRunFailure
        fields = ["customer", "customer_external_id", "error", "at"]


class BillRunProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(source="customers_seen", help_text="Customers billed so far.")
    total = serializers.SerializerMethodField(
        help_text="Customers to bill, counted when the run starts (0 while queued)."
    )

    def get_total(self, run) -> int:
        return max(run.customers_total, run.customers_seen)


class BillRunOutputSerializer(serializers.ModelSerializer):
    progress = BillRunProgressSerializer(source="*", help_text="Customers done / to bill.")
    failures = BillRunFailureOutputSerializer(
        many=True, help_text="Customers whose billing raised; the others were billed."
    )

    class Meta:
        model = BillRun
        fields = [
            "id",
            "as_of",
            "status",
            "requested_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "progress",
            "customers_seen",
            "customers_failed",
            "invoices_created",
            "lines_created",
            "error",
            "failures",
        ]
