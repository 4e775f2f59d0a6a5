"""Where and how payments are charged, in the operations console: stored payment methods,
gateways and routing rules. Imported at the end of billing/payments/admin/payments.py (whose helpers
it uses).

Payment methods are read-only; "Make default" and "Detach" call their services. There is no
add form: a token is made by the gateway's client library in the customer's browser and
attached through the API (POST /api/v1/customers/{customer}/payment-methods). A staff form
asking for a token invites pasting a card number, which would reach our server and its logs
even though `payment_method_attach` refuses it.

Gateways and routing rules are configuration, edited directly (no service owns them; the
admin log keeps who changed what). A gateway keeps its code (routing rules name it), adapter
and vault (where its stored methods' tokens live) once created, and is deactivated rather
than deleted. The forms check the JSON lists and the routing conditions.
"""

from collections.abc import Callable

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from api.admin_confirm import action_confirmation
from billing.payments.admin.payments import ServiceActionsMixin, events_link, fields_of
from billing.payments.models.payments import Gateway, MethodKind, PaymentMethod, RoutingRule
from billing.payments.services.methods import payment_method_detach, payment_method_set_default
from catalog.validators import validate_currency


# Payment methods
@admin.register(PaymentMethod)
class PaymentMethodAdmin(ServiceActionsMixin, admin.ModelAdmin):
    service_arg = "method"
    list_display = [
        "label",
        "customer",
        "kind",
        "brand",
        "last4",
        "expiry",
        "is_default",
        "status",
        "vault",
        "risk_level",
        "created_at",
    ]
    list_filter = ["kind", "brand", "is_default", "status", "vault", "exp_year"]
    search_fields = ["customer__external_id", "customer__name", "last4", "=token", "=fingerprint"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    fields = readonly_fields = [*fields_of(PaymentMethod), "events"]
    actions = ["make_default_selected", "detach_selected"]

    @admin.display(description="expiry", ordering="exp_year")
    def expiry(self, obj: PaymentMethod) -> str:
        return f"{obj.exp_month:02d}/{obj.exp_year}" if obj.exp_year and obj.exp_month else "-"

    @admin.display(description="billing events")
    def events(self, obj: PaymentMethod) -> str:
        return events_link(obj)

    @admin.action(permissions=["act"], description="Make default")
    def make_default_selected(self, request, queryset):
        self.per_row(request, queryset, payment_method_set_default, "Made default")

    @admin.action(permissions=["act"], description="Detach (never charge it again)…")
    def detach_selected(self, request, queryset):
        page = action_confirmation(
            self,
            request,
            queryset,
            action="detach_selected",
            title="Detach these payment methods",
            consequence="These cards and accounts are never charged again; where one is a "
            "customer's default, its invoices are no longer collected automatically.",
        )
        if page is not None:
            return page
        self.per_row(request, queryset, payment_method_detach, "Detached")


# Gateways and routing
def code_list(value, *, example: str, error: Callable[[str], str | None]) -> list[str]:
    """A JSON list of distinct codes (empty input: the empty list), each checked by `error`."""
    value = [] if value is None else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"Give a JSON list, e.g. {example}.")
    errors = [text for code in value if (text := error(code))]
    if errors:
        raise ValidationError(errors)
    if len(set(value)) != len(value):
        raise ValidationError("Name each one once.")
    return value


def currency_error(code: str) -> str | None:
    try:
        validate_currency(code)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None


class GatewayForm(forms.ModelForm):
    class Meta:
        model = Gateway
        fields = [
            "code",
            "name",
            "adapter",
            "vault",
            "active",
            "priority",
            "currencies",
            "method_kinds",
            "options",
        ]

    def clean_currencies(self):
        value = self.cleaned_data["currencies"]
        return code_list(value, example='["USD", "EUR"]', error=currency_error)

    def clean_method_kinds(self):
        return code_list(
            self.cleaned_data["method_kinds"],
            example='["card", "sepa_debit"]',
            error=lambda k: None if k in MethodKind.values else f"{k} is not a method kind.",
        )

    def clean_options(self):
        options = self.cleaned_data["options"]
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise ValidationError('Give a JSON object, e.g. {"outage": false}.')
        return options


@admin.register(Gateway)
class GatewayAdmin(admin.ModelAdmin):
    form = GatewayForm
    list_display = GatewayForm.Meta.fields[:-1]
    list_filter = ["active", "adapter", "vault"]
    search_fields = ["code", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["code", "adapter", "vault"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # payments and attempts point at it: deactivate instead


class RoutingRuleForm(forms.ModelForm):
    class Meta:
        model = RoutingRule
        fields = [
            "name",
            "priority",
            "active",
            "currency",
            "method_kind",
            "customer",
            "min_amount",
            "max_amount",
            "gateways",
        ]

    def clean_gateways(self):
        codes = set(Gateway.objects.values_list("code", flat=True))
        return code_list(
            self.cleaned_data["gateways"],
            example='["sandbox", "stripe"]',
            error=lambda c: None if c in codes else f"No gateway has the code {c}.",
        )

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("min_amount"), cleaned.get("max_amount")
        for field, amount in (("min_amount", low), ("max_amount", high)):
            if amount is not None and amount < 0:
                self.add_error(field, "Give an amount of 0 or more.")
        if low is not None and high is not None and low > high:
            self.add_error("max_amount", "The maximum is below the minimum.")
        has_amounts = low is not None or high is not None
        if has_amounts and not cleaned.get("currency") and "currency" not in self.errors:
            self.add_error("currency", "Amount conditions need a currency.")
        return cleaned


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    form = RoutingRuleForm
    list_display = RoutingRuleForm.Meta.fields
    list_filter = ["active", "currency", "method_kind"]
    search_fields = ["name", "customer__external_id", "customer__name"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
