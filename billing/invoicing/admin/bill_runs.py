"""Bill runs in the operations console: the list, each run with its failures, the "Run
billing" page (preview, then queue the run for a worker) and the resume action."""

from collections import defaultdict
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from api.errors import DomainError, error_text
from billing.events.admin_mixins import ActPermissionMixin, ReadOnlyMixin
from billing.invoicing.models.invoices import BillRun, BillRunFailure, InvoiceLine
from billing.invoicing.services.bill_runs import (
    bill_run_request,
    bill_run_resume,
    subscriptions_due,
)
from billing.invoicing.services.charges import subscription_due_charges
from billing.invoicing.services.invoices import pending_lines
from billing.subscriptions.models.subscriptions import Subscription

PREVIEW_LIMIT = 200


class RunBillingForm(forms.Form):
    as_of = forms.DateTimeField(
        label="As of",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Bill everything due by this instant (UTC). A future instant is a simulation.",
    )


def preview_lines(sub: Subscription, as_of) -> list[InvoiceLine]:
    """The base-fee lines a run at `as_of` would bill for `sub` (unsaved).

    A run ends a subscription canceled at period end at that end, so nothing after it is
    billed; the lines are cut there as `subscription_upcoming_invoice` does.
    """
    lines = subscription_due_charges(sub=sub, as_of=as_of).lines
    if sub.cancel_at_period_end and sub.current_period_end is not None:
        lines = [ln for ln in lines if ln.period_start < sub.current_period_end]
    return lines


def bill_run_preview(as_of, limit: int | None = None) -> dict:
    """What a run at `as_of` would bill, per customer and currency; nothing is saved. As in
    the run, an invoice made for a customer and currency also takes its pending lines."""
    limit = PREVIEW_LIMIT if limit is None else limit
    subs = list(
        subscriptions_due(as_of)
        .select_related("customer", "plan")
        .order_by("customer__name", "customer_id", "currency", "pk")[: limit + 1]
    )
    truncated = len(subs) > limit
    lines_by_group: dict[tuple, list[InvoiceLine]] = defaultdict(list)
    for sub in subs[:limit]:
        lines_by_group[(sub.customer, sub.currency)].extend(preview_lines(sub, as_of))
    groups = []
    for (customer, currency), lines in lines_by_group.items():
        if not lines:
            continue
        lines = [*pending_lines(customer=customer, currency=currency), *lines]
        total = sum((line.amount for line in lines), Decimal(0))
        groups.append({"customer": customer, "currency": currency, "lines": lines, "total": total})
    return {
        "groups": groups,
        "subscriptions_seen": min(len(subs), limit),
        "line_count": sum(len(group["lines"]) for group in groups),
        "truncated": truncated,
        "limit": limit,
    }


class BillRunFailureInline(ReadOnlyMixin, admin.TabularInline):
    model = BillRunFailure
    extra = 0
    can_delete = False
    fields = ["customer", "customer_external_id", "error", "at"]
    readonly_fields = fields


@admin.register(BillRun)
class BillRunAdmin(ActPermissionMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "as_of",
        "status",
        "requested_at",
        "finished_at",
        "progress",
        "customers_failed",
        "invoices_created",
        "lines_created",
    ]
    list_filter = ["status"]
    search_fields = ["error"]
    date_hierarchy = "as_of"
    fields = [
        "as_of",
        "status",
        "requested_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "progress",
        "customers_failed",
        "invoices_created",
        "lines_created",
        "error",
        "invoices",
    ]
    readonly_fields = fields
    inlines = [BillRunFailureInline]
    actions = ["resume_runs"]
    change_list_template = "admin/billing/billrun/change_list.html"
    run_template = "admin/billing/billrun/run.html"

    @admin.display(description="progress")
    def progress(self, obj: BillRun) -> str:
        return f"{obj.customers_seen} / {max(obj.customers_total, obj.customers_seen)}"

    @admin.display(description="invoices")
    def invoices(self, obj: BillRun) -> str:
        url = reverse("admin:billing_invoice_changelist")
        return format_html(
            '<a href="{}?bill_run__id__exact={}">Invoices of this run</a>', url, obj.pk
        )

    def has_add_permission(self, request):
        return False  # runs are started from the "Run billing" page

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_run_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('add', opts)}")

    @admin.action(description="Resume the selected abandoned or failed runs", permissions=["act"])
    def resume_runs(self, request, queryset):
        for run in queryset.order_by("pk"):
            try:
                bill_run_resume(run=run, at=timezone.now(), actor=request.user)
            except DomainError as exc:
                self.message_user(request, f"{run}: {error_text(exc)}", messages.ERROR)
            else:
                self.log_change(request, run, "Resumed (admin action).")
                self.message_user(request, f"{run}: queued again.", messages.SUCCESS)

    def get_urls(self):
        run = path(
            "run/",
            self.admin_site.admin_view(self.run_billing_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_run",
        )
        return [run, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_run_billing": self.has_run_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def run_billing_view(self, request):
        if not self.has_run_permission(request):
            raise PermissionDenied
        preview = None
        if request.method == "POST":
            form = RunBillingForm(request.POST)
            if form.is_valid():
                as_of = form.cleaned_data["as_of"]
                if "_run" in request.POST:
                    try:
                        run = bill_run_request(as_of=as_of, at=timezone.now(), actor=request.user)
                    except DomainError as exc:
                        self.message_user(request, error_text(exc), messages.ERROR)
                        return redirect("admin:billing_billrun_changelist")
                    self.message_user(
                        request,
                        f"{run} is queued: a worker bills it; this page shows its progress.",
                        messages.SUCCESS,
                    )
                    return redirect("admin:billing_billrun_change", run.pk)
                preview = bill_run_preview(as_of)
        else:
            now = timezone.now().replace(second=0, microsecond=0)
            form = RunBillingForm(initial={"as_of": now})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Run billing",
            "form": form,
            "preview": preview,
        }
        return TemplateResponse(request, self.run_template, context)
