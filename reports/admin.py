"""The ledger in the operations console: the account codes (editable), the journal
(read-only), closing a month, and the reports' event-log cursor (read-only, with the events
it could not handle).

Permissions are the staff groups' (reports/staff_groups.py): every group views; finance
also adds and changes reports' rows, which here means editing account codes and closing a
month. Closing goes through `month_close`, one call, with the staff user as the actor; a
month that cannot be closed comes back as an error on the form."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from billing.events.admin_mixins import ReadOnlyMixin
from billing.events.services import actor_label
from catalog.money import format_amount
from customers.admin_exports import StaffExportMixin
from reports.admin_exports import JournalEntryResource, JournalLineResource
from reports.consumer import reports_events_consume_all
from reports.ledger.closing import CloseError, month_close
from reports.models import EventCursor, JournalEntry, JournalLine, LedgerAccount, MonthClose
from reports.revenue.schedules import Month
from reports.revenue.selectors import month_before
from reports.revenue_views import MonthField

MONTH_CLOSE_TEMPLATE = "admin/reports/month_close_form.html"


@admin.register(LedgerAccount)
class LedgerAccountAdmin(admin.ModelAdmin):
    """The code each role posts to (a new code applies to entries posted from then on). The
    seven roles exist from the migration: none is added or deleted."""

    list_display = ["role", "code", "name"]
    list_display_links = ["role"]
    list_editable = ["code", "name"]
    fields = ["role", "code", "name"]
    readonly_fields = ["role"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class JournalLineInline(ReadOnlyMixin, admin.TabularInline):
    model = JournalLine
    extra = 0
    can_delete = False
    fields = readonly_fields = ["role", "account", "debit", "credit"]


@admin.register(JournalEntry)
class JournalEntryAdmin(StaffExportMixin, ReadOnlyMixin, admin.ModelAdmin):
    resource_classes = [JournalLineResource, JournalEntryResource]
    list_display = ["date", "kind", "source", "customer", "currency", "total_debit"]
    list_filter = ["kind", "currency", "date"]
    search_fields = ["source", "customer__external_id", "customer__name"]
    list_select_related = ["customer"]
    date_hierarchy = "date"
    fields = readonly_fields = [
        "date",
        "kind",
        "source",
        "source_key",
        "customer",
        "currency",
        "memo",
        "posted_at",
    ]
    inlines = [JournalLineInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(debits=Sum("lines__debit"))

    @admin.display(description="total debit", ordering="debits")
    def total_debit(self, obj: JournalEntry) -> str:
        return format_amount(obj.debits or 0, obj.currency)


class MonthCloseForm(forms.Form):
    month = MonthField(
        help_text="YYYY-MM. The month must be over and after the last one closed.",
    )


def month_suggested(today) -> Month:
    """The month after the last one closed, or else the last complete month."""
    last = MonthClose.objects.order_by("-month").first()
    if last is not None:
        return Month.of(last.month).next()
    return month_before(Month.of(today))


@admin.register(MonthClose)
class MonthCloseAdmin(admin.ModelAdmin):
    """Closed months. "Add" closes one: reads the billing event log to its end, posts the
    month's recognition and usage accrual, then locks it (later corrections are dated in the
    first open month). Closes are never changed or deleted."""

    list_display = ["month_display", "closed_at", "closed_by", "after_event"]
    fields = readonly_fields = ["month", "closed_at", "closed_by", "after_event"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="month", ordering="month")
    def month_display(self, obj: MonthClose) -> str:
        return f"{obj.month:%Y-%m}"

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        at = timezone.now()
        suggested = month_suggested(timezone.localdate(at))
        form = MonthCloseForm(request.POST or None, initial={"month": str(suggested)})
        if request.method == "POST" and form.is_valid():
            try:
                close = month_close(
                    month=form.cleaned_data["month"].first_day,
                    at=at,
                    actor=actor_label(request.user),
                    consume=reports_events_consume_all,
                )
            except CloseError as error:
                form.add_error("month", str(error))
            else:
                self.log_addition(request, close, [{"added": {}}])
                self.message_user(
                    request,
                    f"{close.month:%Y-%m} is closed: recognition and usage accrual posted, "
                    "later corrections go to the next open month.",
                    messages.SUCCESS,
                )
                return redirect(reverse("admin:reports_monthclose_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Close a month",
            "subtitle": None,
            "form": form,
            "last_closed": MonthClose.objects.order_by("-month").first(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, MONTH_CLOSE_TEMPLATE, context)


@admin.register(EventCursor)
class EventCursorAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """How far the consumers of the billing event log have read, and the events the
    reports' consumer could not handle (see reports/consumer.py)."""

    list_display = ["consumer", "last_event_id", "pending", "failed_count", "updated_at"]
    fields = readonly_fields = [
        "consumer",
        "last_event_id",
        "pending_ids",
        "updated_at",
        "failed_events",
    ]

    @admin.display(description="pending")
    def pending(self, obj: EventCursor) -> int:
        return len(obj.pending_ids or [])

    @admin.display(description="failed")
    def failed_count(self, obj: EventCursor) -> int:
        return len(obj.failed or [])

    @admin.display(description="failed events")
    def failed_events(self, obj: EventCursor) -> str:
        if not obj.failed:
            return "None."
        return format_html("<pre>{}</pre>", json.dumps(obj.failed, indent=2, sort_keys=True))
