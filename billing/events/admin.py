"""The billing event log in the operations console (read-only), and what every billing admin
page shares: running a service once per selected row, read-only inlines."""

import json
from collections.abc import Callable

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model, QuerySet
from django.urls import reverse
from django.utils.html import format_html
from django_fsm import TransitionNotAllowed

from api.errors import error_text
from billing.events.admin_mixins import ReadOnlyMixin
from billing.events.models import BillingEvent


def run_per_row(
    model_admin: admin.ModelAdmin,
    request,
    queryset: QuerySet,
    service: Callable[[Model], object],
    done: str,
) -> None:
    """Call `service` once per selected row; a refused row is reported and the others go on
    (each call is its own transaction)."""
    count = 0
    for obj in queryset.order_by("pk"):
        try:
            service(obj)
        except (TransitionNotAllowed, ValidationError) as exc:
            model_admin.message_user(
                request, f"{obj}: not possible ({error_text(exc)})", messages.ERROR
            )
        else:
            count += 1
            model_admin.log_change(request, obj, f"{done} (admin action).")
    if count:
        model_admin.message_user(request, f"{done}: {count}.", messages.SUCCESS)


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


# Event log
@admin.register(BillingEvent)
class BillingEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
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


def billing_events_url(obj: Model) -> str:
    """The event log filtered to one subject."""
    changelist = reverse("admin:billing_billingevent_changelist")
    return f"{changelist}?subject_type={obj._meta.label_lower}&subject_id={obj.pk}"
