"""Orders, their fulfillment steps and the workflows in the operations console. Rows change
through the order services only, one call per row: orders retry / abandon (compensate),
steps skip / approve / retry; a refusal comes back as a message. Imported by
provisioning/admin.py."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from billing.events.admin_mixins import ReadOnlyMixin
from billing.payments.admin.payments import ServiceActionsMixin, fields_of
from provisioning.models import FulfillmentStep, Order, Workflow
from provisioning.services.orders import (
    order_abandon,
    order_retry,
    step_approve,
    step_retry,
    step_skip,
)
from provisioning.services.workflows import workflow_validate


class FulfillmentStepInline(ReadOnlyMixin, admin.TabularInline):
    model = FulfillmentStep
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "step_link",
        "step_type",
        "depends_on",
        "status",
        "attempts",
        "next_attempt_at",
        "started_at",
        "finished_at",
        "result",
        "last_error",
    ]

    @admin.display(description="Step")
    def step_link(self, step):
        url = reverse("admin:provisioning_fulfillmentstep_change", args=[step.pk])
        return format_html('<a href="{}">{}</a>', url, step.key)


@admin.register(Order)
class OrderAdmin(ServiceActionsMixin, admin.ModelAdmin):
    service_arg = "order"
    list_display = ["id", "customer", "kind", "status", "source_event", "created_at", "finished_at"]
    list_filter = ["status", "kind"]
    search_fields = ["customer__external_id", "customer__name", "=id"]
    list_select_related = ["customer", "source_event"]
    readonly_fields = fields_of(Order)
    inlines = [FulfillmentStepInline]
    actions = ["retry", "abandon"]

    @admin.action(description="Retry the failed steps and run", permissions=["act"])
    def retry(self, request, queryset):
        self.per_row(request, queryset, order_retry, "Retried")

    @admin.action(description="Abandon: undo the done steps (compensate)", permissions=["act"])
    def abandon(self, request, queryset):
        self.per_row(request, queryset, order_abandon, "Abandoned")


@admin.register(FulfillmentStep)
class FulfillmentStepAdmin(ServiceActionsMixin, admin.ModelAdmin):
    service_arg = "step"
    list_display = ["id", "order", "key", "step_type", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "step_type"]
    search_fields = ["=order__id", "key", "order__customer__external_id"]
    list_select_related = ["order"]
    readonly_fields = fields_of(FulfillmentStep)
    actions = ["skip", "approve", "retry"]

    @admin.action(description="Skip (its dependents may run)", permissions=["act"])
    def skip(self, request, queryset):
        self.per_row(request, queryset, step_skip, "Skipped")

    @admin.action(description="Approve (manual approval steps)", permissions=["act"])
    def approve(self, request, queryset):
        self.per_row(request, queryset, step_approve, "Approved")

    @admin.action(description="Retry now", permissions=["act"])
    def retry(self, request, queryset):
        self.per_row(request, queryset, step_retry, "Retried")


class WorkflowForm(forms.ModelForm):
    class Meta:
        model = Workflow
        fields = ["product", "kind", "steps", "active"]

    def clean_steps(self):
        try:
            return workflow_validate(self.cleaned_data["steps"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from exc


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    form = WorkflowForm
    list_display = ["__str__", "product", "kind", "active"]
    list_filter = ["kind", "active"]
