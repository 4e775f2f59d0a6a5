"""SLA credits in the admin: staff enter a period's measured uptime, the service credits
what the plan's SLA owes. Append-only."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.utils import timezone

from api.errors import DomainError, error_text
from billing.invoicing.models.sla import SlaCredit
from billing.invoicing.services.sla import sla_credit_grant


class SlaCreditForm(forms.ModelForm):
    period_day = forms.DateField(
        label="A day of the period", help_text="Any day of the (ended) billing period to credit."
    )

    class Meta:
        model = SlaCredit
        fields = ["subscription", "uptime", "note"]


@admin.register(SlaCredit)
class SlaCreditAdmin(admin.ModelAdmin):
    form = SlaCreditForm
    list_display = [
        "created_at",
        "subscription",
        "period_start",
        "uptime",
        "uptime_target",
        "credit_percent",
        "amount",
        "currency",
        "created_by",
    ]
    list_filter = ["currency", "created_at"]
    search_fields = ["subscription__customer__external_id", "subscription__customer__name"]
    list_select_related = ["subscription__customer", "subscription__plan"]
    autocomplete_fields = ["subscription"]
    detail_fields = [*list_display[1:], "period_end", "balance_transaction", "note"]

    def get_fields(self, request, obj=None):
        return (
            ["subscription", "period_day", "uptime", "note"] if obj is None else self.detail_fields
        )

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.detail_fields

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except (ValidationError, DomainError) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        local = ZoneInfo(data["subscription"].customer.timezone)  # the customer's days
        day = datetime.combine(data["period_day"], time(12), tzinfo=local)
        credit = sla_credit_grant(
            subscription=data["subscription"],
            period_at=day,
            uptime=data["uptime"],
            note=data.get("note", ""),
            at=timezone.now(),
            actor=request.user,
        )
        if credit is None:
            raise ValidationError("The uptime met the SLA: nothing is owed.")
        obj.pk = credit.pk
        obj.refresh_from_db()
        obj._state.adding = False
