"""Dunning in the operations console: campaigns (configuration) and cases.

Cases are read-only (their state is a state machine); staff retry a case now or close it
through the dunning services, one call per row, refusals reported as messages. A campaign
keeps its code once created (customers name it in `metadata["dunning_campaign"]`) and is
deactivated rather than deleted. Imported by billing/admin.py.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_fsm import TransitionNotAllowed

from api.errors import DomainError
from billing.dunning.jobs import dunning_case_retry
from billing.dunning.models import DunningCampaign, DunningCase, DunningStatus
from billing.dunning.services import dunning_campaign_errors, dunning_case_close
from billing.events.admin_mixins import ActPermissionMixin

SCHEDULE_FIELDS = ["retry_days", "reminder_days_before_due", "reminder_days_after_due"]
RETRY_OUTCOMES = {
    "recovered": "paid, case recovered",
    "failed": "the charge failed again",
    "pending": "the charge awaits an outcome (3-D Secure, a debit settling, a timeout)",
    "in_flight": "another payment for the invoice is in flight",
    "skipped": "nothing to retry (the case is no longer active)",
    "error": "the retry failed unexpectedly (see the logs); it will be tried again",
}


class DunningCampaignForm(forms.ModelForm):
    """Checks the schedule as the service would, so the errors show on the form."""

    class Meta:
        model = DunningCampaign
        fields = [
            "code",
            "name",
            "is_default",
            "active",
            *SCHEDULE_FIELDS,
            "final_action",
            "final_action_after_days",
        ]

    def clean(self):
        cleaned = super().clean()
        values = {name: cleaned.get(name) for name in SCHEDULE_FIELDS if name in cleaned}
        for field, error in dunning_campaign_errors(DunningCampaign(**values)).items():
            if field in values and field not in self.errors:
                self.add_error(field, error)
        return cleaned


@admin.register(DunningCampaign)
class DunningCampaignAdmin(admin.ModelAdmin):
    form = DunningCampaignForm
    list_display = [
        "code",
        "name",
        "is_default",
        "active",
        *SCHEDULE_FIELDS,
        "final_action",
        "final_action_after_days",
        "active_cases",
    ]
    list_filter = ["active", "is_default", "final_action"]
    search_fields = ["code", "name"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(active_count=Count("cases", filter=Q(cases__status=DunningStatus.ACTIVE)))
        )

    @admin.display(description="active cases", ordering="active_count")
    def active_cases(self, obj: DunningCampaign) -> int:
        return obj.active_count

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # cases point at it: deactivate instead


@admin.register(DunningCase)
class DunningCaseAdmin(ActPermissionMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "customer",
        "invoice",
        "campaign",
        "status",
        "started_at",
        "retries_done",
        "next_retry_at",
        "final_action_at",
        "last_failure_code",
        "ended_at",
    ]
    list_filter = ["status", "campaign", "last_failure_code"]
    search_fields = ["invoice__number", "customer__external_id", "customer__name"]
    list_select_related = ["customer", "invoice", "campaign"]
    date_hierarchy = "started_at"
    fields = [
        "customer",
        "invoice",
        "campaign",
        "status",
        "started_at",
        "retries_done",
        "next_retry_at",
        "final_action_at",
        "last_failure_code",
        "ended_at",
        "outcome",
        "billing_events",
    ]
    readonly_fields = fields
    actions = ["retry_now", "close_selected"]

    @admin.display(description="billing events")
    def billing_events(self, obj: DunningCase) -> str:
        url = reverse("admin:billing_billingevent_changelist")
        return format_html(
            '<a href="{}?subject_type=billing.dunningcase&subject_id={}">Events of this case</a>',
            url,
            obj.pk,
        )

    def has_add_permission(self, request):
        return False  # cases open when a payment fails

    def has_change_permission(self, request, obj=None):
        return False  # read-only; the actions below change a case

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(permissions=["act"], description="Retry the payment now")
    def retry_now(self, request, queryset):
        at = timezone.now()
        for case in queryset.order_by("pk"):
            if case.status != DunningStatus.ACTIVE:
                self.message_user(request, f"{case}: not active, not retried.", messages.ERROR)
                continue
            outcome = dunning_case_retry(case_id=case.pk, at=at, force=True, actor=request.user)
            self.log_change(request, case, f"Retried now (admin action): {outcome}.")
            level = messages.SUCCESS if outcome == "recovered" else messages.WARNING
            self.message_user(request, f"{case}: {RETRY_OUTCOMES[outcome]}.", level)

    @admin.action(permissions=["act"], description="Close (stop chasing; release subscriptions)")
    def close_selected(self, request, queryset):
        at, count = timezone.now(), 0
        for case in queryset.order_by("pk"):
            try:
                dunning_case_close(case=case, at=at, actor=request.user)
            except (DomainError, TransitionNotAllowed) as exc:
                self.message_user(request, f"{case}: not possible ({exc})", messages.ERROR)
            else:
                count += 1
                self.log_change(request, case, "Closed (admin action).")
        if count:
            self.message_user(request, f"Closed: {count}.", messages.SUCCESS)
