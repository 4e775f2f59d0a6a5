"""Billing in the operations console.

The event log, invoices, bill runs and number sequences are read-only. Whatever changes a
subscription or an invoice goes through a service, one call per row: the add form of a
subscription (`subscription_checkout_on_commit`: created, then its first invoice charged
once the add view commits), the actions, and the "Run billing" page.
"""

import json
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model, QuerySet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_fsm import TransitionNotAllowed

from api.errors import error_text
from billing.admin_dates import CustomerDaysMixin
from billing.admin_readonly import ReadOnlyMixin
from billing.models import (
    BillingEvent,
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    Subscription,
)
from billing.services.checkout import subscription_checkout_on_commit
from billing.services.events import billing_event_handlers_held
from billing.services.invoicing import (
    invoice_finalize,
    invoice_mark_paid,
    invoice_mark_uncollectible,
    invoice_void,
)
from billing.services.subscriptions import (
    _validate_new,
    subscription_cancel,
    subscription_cancel_undo,
    subscription_pause,
    subscription_resume,
)


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
            _validate_new(
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


def read_only_fieldsets(
    model: type[Model], groups: list, *, displays: tuple = (), editable: tuple = ()
) -> list:
    """Fieldsets of `groups` (field names and the admin's `displays`), then an "Other" one
    with whatever fields the model has beyond them (so a new field shows up), leaving out the
    id and the `editable` fields the caller shows itself."""
    names = [f.name for f in model._meta.concrete_fields if f.name not in ("id", *editable)]
    fieldsets, listed = [], set()
    for title, fields in groups:
        shown = [f for f in fields if f in names or f in displays]
        listed.update(shown)
        if shown:
            fieldsets.append((title, {"fields": shown}))
    rest = [name for name in names if name not in listed]
    if rest:
        fieldsets.append(("Other", {"fields": rest}))
    return fieldsets


def fieldset_names(fieldsets: list) -> list[str]:
    return [name for _, options in fieldsets for name in options["fields"]]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
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

    @admin.action(permissions=["change"], description="Cancel now")
    def cancel_now(self, request, queryset):
        at = timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda sub: subscription_cancel(
                subscription=sub, at=at, when="immediately", reason="staff", actor=request.user
            ),
            "Canceled",
        )

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


# Invoices
class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fk_name = "invoice"
    fields = [
        "kind",
        "description",
        "quantity",
        "unit_amount",
        "amount",
        "period_start",
        "period_end",
        "tax_rate",
        "tax_amount",
    ]
    readonly_fields = fields


class StatusActionsMixin:
    """Read-only admin whose actions (services) need the model's change permission."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_act_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")


INVOICE_GROUPS = [
    ("Invoice", ["number", "series", "customer", "currency", "status", "bill_run"]),
    ("Period", ["period_start", "period_end"]),
    ("Amounts", ["subtotal", "discount", "tax", "total", "amount_paid", "amount_due"]),
    ("Dates", ["customer_days", "created_at", "issued_at", "due_at", "paid_at", "voided_at"]),
    ("History", ["billing_events"]),
]


@admin.register(Invoice)
class InvoiceAdmin(CustomerDaysMixin, StatusActionsMixin, admin.ModelAdmin):
    list_display = [
        "number_or_draft",
        "customer",
        "currency",
        "status",
        "total",
        "amount_due",
        "issue_day",
        "due_day",
        "period_start",
    ]
    list_filter = ["status", "currency", "created_at"]
    search_fields = ["number", "customer__external_id", "customer__name"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    fieldsets = read_only_fieldsets(
        Invoice, INVOICE_GROUPS, displays=("billing_events", "customer_days")
    )
    readonly_fields = fieldset_names(fieldsets)
    inlines = [InvoiceLineInline]
    actions = [
        "finalize_selected",
        "void_selected",
        "mark_paid_selected",
        "mark_uncollectible_selected",
    ]

    @admin.display(description="number", ordering="number")
    def number_or_draft(self, obj: Invoice) -> str:
        return obj.number or f"Draft #{obj.pk}"

    @admin.display(description="billing events")
    def billing_events(self, obj: Invoice) -> str:
        return format_html(
            '<a href="{}">Billing events of this invoice</a>', billing_events_url(obj)
        )

    def has_add_permission(self, request):
        return False  # invoices come from subscriptions and bill runs

    def has_delete_permission(self, request, obj=None):
        return False  # void instead

    @admin.action(permissions=["act"], description="Finalize (number and open)")
    def finalize_selected(self, request, queryset):
        at = timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda invoice: invoice_finalize(invoice=invoice, at=at, actor=request.user),
            "Finalized",
        )

    @admin.action(permissions=["act"], description="Void")
    def void_selected(self, request, queryset):
        at = timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda invoice: invoice_void(invoice=invoice, at=at, actor=request.user),
            "Voided",
        )

    @admin.action(permissions=["act"], description="Mark paid (outside any gateway)")
    def mark_paid_selected(self, request, queryset):
        at = timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda invoice: invoice_mark_paid(invoice=invoice, at=at, actor=request.user),
            "Marked paid",
        )

    @admin.action(permissions=["act"], description="Write off (mark uncollectible)")
    def mark_uncollectible_selected(self, request, queryset):
        at = timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda invoice: invoice_mark_uncollectible(invoice=invoice, at=at, actor=request.user),
            "Written off",
        )


# Number sequences
@admin.register(InvoiceNumberSequence)
class InvoiceNumberSequenceAdmin(admin.ModelAdmin):
    list_display = ["series", "year", "next_value"]
    list_filter = ["series", "year"]
    search_fields = ["series"]
    fields = list_display
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


import billing.admin_bank  # noqa: E402, F401 - bank transfers, reconciliation report
import billing.admin_bill_runs  # noqa: E402, F401 - bill runs and the "Run billing" page
import billing.admin_credits  # noqa: E402, F401 - credit notes, balances, coupons
import billing.admin_dunning  # noqa: E402, F401 - dunning campaigns and cases
import billing.admin_payments  # noqa: E402, F401 - payments, refunds, methods, gateways, routing
import billing.admin_sla  # noqa: E402, F401 - SLA credits
import billing.admin_usage  # noqa: E402, F401 - usage aggregates, events, alerts
