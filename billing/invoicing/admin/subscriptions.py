"""Subscriptions in the operations console. Whatever changes one goes through a service, one
call per row: the add form (`subscription_checkout_on_commit`: created, then its first invoice
charged once the add view commits), the actions and the console's pages beside the change
page (change of plan with its proration preview, coupons, pause, resume, cancel now with a
reason: subscription_views.py). In invoicing, not subscriptions, because creating and
cancelling a subscription bill it."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.html import format_html

from api.errors import error_text
from billing.events.admin import ReadOnlyInline, billing_events_url, run_per_row
from billing.events.services import billing_event_handlers_held
from billing.invoicing.admin.exports import SubscriptionResource
from billing.invoicing.admin.invoices import fieldset_names, read_only_fieldsets
from billing.invoicing.admin.subscription_views import SubscriptionConsoleMixin
from billing.invoicing.models.invoices import InvoiceLine
from billing.invoicing.services.checkout import subscription_checkout_on_commit
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.subscriptions.models.subscriptions import Subscription
from billing.subscriptions.services import (
    subscription_cancel_undo,
    subscription_new_validate,
    subscription_pause,
    subscription_resume,
)
from customers.admin_exports import StaffExportMixin


# Subscriptions
class SubscriptionAddForm(forms.ModelForm):
    """Runs the service's own checks in `clean()`, so its errors show on the form; the
    subscription itself is made by `subscription_checkout_on_commit` in
    `SubscriptionAdmin.save_model`."""

    trial_days = forms.IntegerField(
        required=False, min_value=0, help_text="Empty: the plan's trial days."
    )

    class Meta:
        model = Subscription
        fields = ["customer", "plan", "start_at", "quantity", "billing_day", "external_id"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        start_at = self.fields["start_at"]
        start_at.required = False
        start_at.help_text = (
            "Empty: now. A past start bills its due periods at once; a future start is pending."
        )

    def clean(self):
        cleaned = super().clean()
        customer, plan = cleaned.get("customer"), cleaned.get("plan")
        quantity = cleaned.get("quantity")
        if customer is None or plan is None or quantity is None:
            return cleaned  # the field errors say why
        trial_days = cleaned.get("trial_days")
        try:
            subscription_new_validate(
                customer=customer,
                plan=plan,
                quantity=quantity,
                billing_day=cleaned.get("billing_day"),
                trial_days=plan.trial_days if trial_days is None else trial_days,
                external_id=cleaned.get("external_id") or None,
            )
        except ValidationError as exc:
            self.add_error(None, exc)
        return cleaned


class SubscriptionInvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fk_name = "subscription"
    verbose_name = "invoice line"
    verbose_name_plural = "invoice lines"
    fields = ["invoice", "kind", "description", "quantity", "amount", "period_start", "period_end"]
    readonly_fields = fields
    ordering = ["-period_start", "-pk"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice")


SUBSCRIPTION_ADD_FIELDS = [
    "customer",
    "plan",
    "start_at",
    "quantity",
    "trial_days",
    "billing_day",
    "external_id",
]


SUBSCRIPTION_GROUPS = [
    ("Subscription", ["customer", "plan", "status", "quantity", "currency"]),
    (
        "Schedule",
        [
            "timezone",
            "interval",
            "interval_count",
            "billing_day",
            "start_at",
            "start_date",
            "anchor_date",
            "anchor_day",
            "trial_end_at",
            "current_period_start",
            "current_period_end",
            "billed_through",
        ],
    ),
    ("Scheduled change", ["scheduled_plan", "scheduled_quantity"]),
    (
        "Cancellation and pause",
        [
            "cancel_at_period_end",
            "canceled_at",
            "ended_at",
            "cancel_reason",
            "cancel_comment",
            "paused_at",
        ],
    ),
    ("History", ["billing_events", "created_at", "updated_at"]),
]


@admin.register(Subscription)
class SubscriptionAdmin(StaffExportMixin, SubscriptionConsoleMixin, admin.ModelAdmin):
    resource_classes = [SubscriptionResource]
    list_display = [
        "id",
        "customer",
        "plan",
        "status",
        "quantity",
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
        "created_at",
    ]
    list_filter = ["status", "plan", "currency", "cancel_at_period_end"]
    search_fields = ["customer__external_id", "customer__name", "external_id", "plan__code"]
    list_select_related = ["customer", "plan"]
    autocomplete_fields = ["customer", "plan"]
    inlines = [SubscriptionInvoiceLineInline]
    actions = [
        "cancel_now",
        "cancel_at_period_end_selected",
        "undo_cancel_selected",
        "pause_selected",
        "resume_selected",
    ]

    def read_only_fieldsets(self) -> list:
        return read_only_fieldsets(
            Subscription,
            SUBSCRIPTION_GROUPS,
            displays=("billing_events",),
            editable=("external_id",),
        )

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": SUBSCRIPTION_ADD_FIELDS})]
        return [(None, {"fields": ["external_id"]}), *self.read_only_fieldsets()]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else fieldset_names(self.read_only_fieldsets())

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SubscriptionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # invoice lines keep pointing at it: cancel instead

    @admin.display(description="billing events")
    def billing_events(self, obj: Subscription) -> str:
        return format_html(
            '<a href="{}">Billing events of this subscription</a>', billing_events_url(obj)
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        sub = self.get_object(request, object_id)
        buttons = self.console_buttons(request, sub) if sub is not None else {}
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **buttons}
        )

    def add_view(self, request, form_url="", extra_context=None):
        try:
            with billing_event_handlers_held():  # provisioned after the first charge
                return super().add_view(request, form_url, extra_context)
        except ValidationError as exc:
            # Only when something changed between the form's checks and the service's (the
            # whole add view is one transaction: nothing was saved).
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        if change:  # the form holds external_id only; write nothing else
            obj.save(update_fields=[*form.changed_data, "updated_at"])
            return
        data = form.cleaned_data
        sub = subscription_checkout_on_commit(
            customer=data["customer"],
            plan=data["plan"],
            at=timezone.now(),
            start_at=data.get("start_at"),
            quantity=data["quantity"],
            external_id=data.get("external_id") or None,
            trial_days=data.get("trial_days"),
            billing_day=data.get("billing_day"),
            actor=request.user,
        )
        # The admin logs and redirects to the object it passed in: make it the new row.
        obj.pk = sub.pk
        obj.refresh_from_db()
        obj._state.adding = False

    @admin.action(permissions=["change"], description="Cancel now…")
    def cancel_now(self, request, queryset):
        """A confirmation page listing the rows, with a reason, a comment and the proration;
        once confirmed, each row is canceled now."""
        if not queryset.exists():
            return None
        confirmed = self.cancel_confirmation(request, queryset, "cancel_now")
        if isinstance(confirmed, HttpResponse):
            return confirmed
        at = timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda sub: subscription_cancel(
                subscription=sub,
                at=at,
                when="immediately",
                proration=confirmed["proration"],
                reason=confirmed["reason"],
                comment=confirmed["comment"],
                actor=request.user,
            ),
            "Canceled",
        )
        return None

    @admin.action(permissions=["change"], description="Cancel at period end")
    def cancel_at_period_end_selected(self, request, queryset):
        at = timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda sub: subscription_cancel(
                subscription=sub, at=at, when="period_end", reason="staff", actor=request.user
            ),
            "Cancellation scheduled (or done, for trials and pending starts)",
        )

    @admin.action(permissions=["change"], description="Undo a cancellation at period end")
    def undo_cancel_selected(self, request, queryset):
        at = timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda sub: subscription_cancel_undo(subscription=sub, at=at, actor=request.user),
            "Kept (cancellation undone)",
        )

    @admin.action(permissions=["change"], description="Pause")
    def pause_selected(self, request, queryset):
        at = timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda sub: subscription_pause(subscription=sub, at=at, actor=request.user),
            "Paused",
        )

    @admin.action(permissions=["change"], description="Resume")
    def resume_selected(self, request, queryset):
        at = timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda sub: subscription_resume(subscription=sub, at=at, actor=request.user),
            "Resumed",
        )
