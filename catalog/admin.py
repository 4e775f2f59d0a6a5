"""The catalog in the operations console.

A plan in use (or a replaced version) keeps its pricing terms, charges and entitlements:
changing them makes a new version, which the API's PATCH does (`plan_update`).
Codes, and what a metric, feature or add-on price means, are fixed once created,
as in the services.
"""

from django import forms
from django.contrib import admin, messages

from catalog import services
from catalog.models import (
    AddOn,
    BillableMetric,
    Charge,
    Entitlement,
    Feature,
    FeatureKind,
    Plan,
    Product,
    ServiceLevel,
)
from catalog.pricing import ChargePropertiesError, normalize_properties

LOCKED_HELP = (
    "This plan is in use (or was replaced by a newer version): its pricing terms, charges and "
    "entitlements cannot change here. Changes to a plan in use go through a new version: "
    "PATCH /api/v1/plans/<code> makes one, and current subscribers keep this version."
)


class ArchivedFilter(admin.SimpleListFilter):
    title = "archived"
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(archived_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(archived_at__isnull=True)
        return queryset


def plan_locked(plan: Plan | None) -> bool:
    """True when the plan's terms may not change in place (called through `services` so tests
    can stand in for `plan_in_use`)."""
    if plan is None or plan.pk is None:
        return False
    return not plan.is_latest or services.plan_in_use(plan)


# Products
class PlanOfProductInline(admin.TabularInline):
    model = Plan
    fields = ["code", "version", "name", "currency", "amount", "interval", "status", "is_latest"]
    readonly_fields = fields
    show_change_link = True
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["code", "name"]
    readonly_fields = ["created_at"]
    inlines = [PlanOfProductInline]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "code"] if obj else self.readonly_fields


# Metrics and features
@admin.register(BillableMetric)
class BillableMetricAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "aggregation", "field", "archived_at"]
    list_filter = ["aggregation", ArchivedFilter]
    search_fields = ["code", "name", "field"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request, obj=None):
        # The aggregation of a metric in use would rewrite billed usage.
        fixed = ["code", "aggregation", "field"] if obj else []
        return [*self.readonly_fields, *fixed]


class FeatureForm(forms.ModelForm):
    class Meta:
        model = Feature
        fields = ["code", "name", "description", "kind", "metric"]

    def clean(self):
        cleaned = super().clean()
        kind, metric = cleaned.get("kind"), cleaned.get("metric")
        if kind and kind != FeatureKind.QUOTA and metric is not None:
            self.add_error("metric", "Only quota features have a metric.")
        return cleaned


@admin.register(Feature)
class FeatureAdmin(admin.ModelAdmin):
    form = FeatureForm
    list_display = ["code", "name", "kind", "metric"]
    list_filter = ["kind", "metric"]
    search_fields = ["code", "name"]
    list_select_related = ["metric"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request, obj=None):
        fixed = ["code", "kind", "metric"] if obj else []
        return [*self.readonly_fields, *fixed]


# Charges and entitlements
class ChargeForm(forms.ModelForm):
    class Meta:
        model = Charge
        fields = ["metric", "model", "properties", "position"]
        help_texts = {
            "properties": 'Amounts as strings, e.g. {"unit_amount": "0.002"} or '
            '{"tiers": [{"up_to": 1000, "unit_amount": "0"}, {"up_to": null, '
            '"unit_amount": "0.01"}]}.',
        }

    def clean(self):
        cleaned = super().clean()
        metric = cleaned.get("metric")
        if metric is not None and metric.archived_at and "metric" in self.changed_data:
            self.add_error("metric", "This metric is archived.")
        model, properties = cleaned.get("model"), cleaned.get("properties")
        if model and properties is not None:
            try:
                cleaned["properties"] = normalize_properties(model, properties)
            except ChargePropertiesError as exc:
                if exc.field == "model":
                    where, message = "model", exc.message
                else:  # name the place inside properties, e.g. "tiers.1.up_to: ..."
                    where = "properties"
                    message = f"{exc.field}: {exc.message}" if exc.field else exc.message
                self.add_error(where, forms.ValidationError(message, code=exc.code))
        return cleaned


class EntitlementForm(forms.ModelForm):
    class Meta:
        model = Entitlement
        fields = ["feature", "enabled", "limit"]

    def clean(self):
        cleaned = super().clean()
        feature = cleaned.get("feature")
        if feature is None:
            return cleaned
        if feature.kind == FeatureKind.BOOLEAN and cleaned.get("limit") is not None:
            self.add_error("limit", "An on/off feature has no limit; leave it empty.")
        if feature.kind != FeatureKind.BOOLEAN and not cleaned.get("enabled"):
            self.add_error(
                "enabled", "A quota or seats feature is granted with a limit (0 for none)."
            )
        return cleaned


class PlanLockedInlineMixin:
    """Inline rows of a locked plan are shown but not added, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and not plan_locked(obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not plan_locked(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not plan_locked(obj)


class ChargeInline(PlanLockedInlineMixin, admin.TabularInline):
    model = Charge
    form = ChargeForm
    autocomplete_fields = ["metric"]
    extra = 0


class PlanEntitlementInline(PlanLockedInlineMixin, admin.TabularInline):
    model = Entitlement
    form = EntitlementForm
    fk_name = "plan"
    autocomplete_fields = ["feature"]
    extra = 0


class AddOnEntitlementInline(admin.TabularInline):
    model = Entitlement
    form = EntitlementForm
    fk_name = "addon"
    autocomplete_fields = ["feature"]
    extra = 0


# Plans
class PlanForm(forms.ModelForm):
    class Meta:
        model = Plan
        fields = [
            "code",
            "name",
            "description",
            "product",
            "status",
            "pausable",
            "service_level",
            *services.PLAN_TERMS,
        ]

    def clean_code(self):
        code = self.cleaned_data["code"]
        if self.instance.pk is None and Plan.objects.filter(code=code).exists():
            raise forms.ValidationError(
                "A plan with this code exists; change it to make a new version.", code="unique"
            )
        return code


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    form = PlanForm
    list_display = [
        "code",
        "version",
        "is_latest",
        "name",
        "product",
        "currency",
        "interval",
        "interval_count",
        "amount",
        "pay_in_advance",
        "trial_days",
        "pausable",
        "status",
    ]
    list_filter = ["status", "currency", "interval", "is_latest", "product", "pausable"]
    search_fields = ["code", "name"]
    list_select_related = ["product"]
    autocomplete_fields = ["product"]
    inlines = [ChargeInline, PlanEntitlementInline]
    actions = ["archive_selected"]

    def get_fieldsets(self, request, obj=None):
        locked = plan_locked(obj)
        terms_help = (
            LOCKED_HELP
            if locked
            else ("Once the plan is in use, these terms change only through a new version.")
        )
        identity = ["code", "name", "description", "product", "status"]
        identity += ["pausable", "service_level"]
        if obj is not None:
            identity[1:1] = ["version", "is_latest"]
        return [
            (None, {"fields": identity}),
            ("Pricing terms", {"fields": list(services.PLAN_TERMS), "description": terms_help}),
            ("History", {"fields": ["created_at"], "classes": ["collapse"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = ["version", "is_latest", "created_at"]
        if obj is not None:
            fields.append("code")
        if plan_locked(obj):
            fields.extend(services.PLAN_TERMS)
        return fields

    @admin.action(permissions=["change"], description="Archive selected plans")
    def archive_selected(self, request, queryset):
        codes = set()
        for plan in queryset.order_by("pk"):
            if plan.code not in codes:
                services.plan_archive(plan=plan)
                self.log_change(request, plan, "Archived (all versions).")
                codes.add(plan.code)
        self.message_user(
            request,
            f"Archived {len(codes)} plan(s), all versions; subscribers keep them.",
            messages.SUCCESS,
        )


@admin.register(AddOn)
class AddOnAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "currency", "amount", "interval", "active"]
    list_filter = ["active", "currency", "interval"]
    search_fields = ["code", "name"]
    readonly_fields = ["created_at"]
    inlines = [AddOnEntitlementInline]

    def get_readonly_fields(self, request, obj=None):
        # The price of an add-on in use is its contract: make a new add-on instead.
        fixed = ["code", "currency", "amount", "interval"] if obj else []
        return [*self.readonly_fields, *fixed]


class ServiceLevelForm(forms.ModelForm):
    credit_tiers = forms.JSONField(
        required=False,
        initial=list,
        help_text='[{"below": "99.9", "credit_percent": "10"}, {"below": "99", '
        '"credit_percent": "25"}]: uptime in a month under `below` percent earns '
        "`credit_percent` of that period's base fee (the largest tier that applies).",
    )

    class Meta:
        model = ServiceLevel
        fields = ["code", "name", "uptime_target", "response_time", "credit_tiers", "description"]


@admin.register(ServiceLevel)
class ServiceLevelAdmin(admin.ModelAdmin):
    form = ServiceLevelForm
    list_display = ["code", "name", "uptime_target", "response_time", "tiers"]
    search_fields = ["code", "name"]

    @admin.display(description="credits")
    def tiers(self, obj: ServiceLevel) -> str:
        return (
            ", ".join(f"< {t['below']}%: {t['credit_percent']}%" for t in obj.credit_tiers)
            or "none"
        )
