"""The billing event log, strictly read-only: it is append-only everywhere."""

import json

from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html

from billing.models import BillingEvent


@admin.register(BillingEvent)
class BillingEventAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "occurred_at", "customer", "subject_type", "subject_id", "actor"]
    list_filter = ["kind", "subject_type"]
    search_fields = ["subject_id", "kind", "customer__external_id"]
    list_select_related = ["customer"]
    date_hierarchy = "occurred_at"
    fields = [
        "id",
        "kind",
        "occurred_at",
        "recorded_at",
        "customer",
        "subject_type",
        "subject_id",
        "actor",
        "dedupe_key",
        "payload_pretty",
    ]
    readonly_fields = fields

    @admin.display(description="payload")
    def payload_pretty(self, obj: BillingEvent) -> str:
        text = json.dumps(obj.payload, indent=2, sort_keys=True, cls=DjangoJSONEncoder)
        return format_html("<pre>{}</pre>", text)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
