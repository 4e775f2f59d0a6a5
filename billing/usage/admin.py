"""Admin for usage: aggregates per period (what is billed), raw events, usage alerts."""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from billing.events.admin_mixins import ReadOnlyMixin
from billing.usage.admin_exports import UsageAggregateResource
from billing.usage.alerts import usage_alert_create, usage_alert_deactivate
from billing.usage.models import UsageAggregate, UsageAlert, UsageEvent
from customers.admin_exports import StaffExportMixin


@admin.register(UsageAggregate)
class UsageAggregateAdmin(StaffExportMixin, ReadOnlyMixin, admin.ModelAdmin):
    resource_classes = [UsageAggregateResource]
    list_display = [
        "subscription",
        "metric",
        "period_start",
        "period_end",
        "event_count",
        "value_sum",
        "value_max",
        "unique_count",
        "unbilled",
        "billed_amount",
        "billed_at",
    ]
    list_filter = ["unbilled", "metric"]
    search_fields = ["subscription__external_id", "customer__external_id", "metric__code"]
    list_select_related = ["subscription", "metric", "subscription__customer", "subscription__plan"]
    date_hierarchy = "period_start"


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The raw log (millions of rows): no full count, search by exact transaction id."""

    list_display = ["transaction_id", "subscription_id", "metric", "timestamp", "value"]
    list_select_related = ["metric"]
    search_fields = ["=transaction_id", "=subscription__external_id"]
    show_full_result_count = False
    list_per_page = 50


class UsageAlertForm(forms.ModelForm):
    """Creating an alert goes through the service; its errors show on the form."""

    actor = None

    class Meta:
        model = UsageAlert
        fields = ["subscription", "metric", "kind", "threshold", "name"]

    def clean(self):
        data = super().clean()
        if not self.errors:
            self.created = usage_alert_create(
                subscription=data["subscription"],
                metric=data["metric"],
                kind=data["kind"],
                threshold=data["threshold"],
                name=data.get("name", ""),
                at=timezone.now(),
                actor=self.actor,
            )
        return data

    def _post_clean(self):
        pass  # the service validated the alert


@admin.register(UsageAlert)
class UsageAlertAdmin(admin.ModelAdmin):
    list_display = ["subscription", "metric", "kind", "threshold", "name", "active"]
    list_filter = ["active", "kind", "metric"]
    search_fields = ["subscription__external_id", "metric__code", "name"]
    list_select_related = ["subscription", "metric", "subscription__customer", "subscription__plan"]
    autocomplete_fields = ["subscription"]
    readonly_fields = ["active", "last_fired_period_start", "created_at"]
    actions = ["deactivate_selected"]
    form = UsageAlertForm

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def save_model(self, request, obj, form, change):
        obj.pk = form.created.pk  # saved by the service in clean()

    @admin.action(permissions=["change"], description="Deactivate the selected alerts")
    def deactivate_selected(self, request, queryset):
        for alert in queryset.order_by("pk"):
            usage_alert_deactivate(alert=alert, at=timezone.now(), actor=request.user)
        self.message_user(request, "Deactivated.", messages.SUCCESS)
