"""Payments (with their attempts, allocations and refunds) and refunds in the operations
console, read-only: they change through the payment services, one call per row (the actions,
a payment's "Refund…" page, the "Record a payment received" page), and a refusal comes back
as a message or a form error. Refunds — of all that is left from the list, or of any part
from a payment's page — are confirmed on a page that says what will be paid back, with a
reason kept on the refund and its event. Payment methods, gateways and routing rules are in
billing/payments/admin/methods.py, imported at the end. Imported by billing/admin.py.
"""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django_fsm import TransitionNotAllowed

from api.errors import DomainError, error_text
from billing.events.admin_mixins import ActPermissionMixin, ReadOnlyMixin
from billing.invoicing.models.invoices import Invoice
from billing.payments.admin.exports import PaymentResource
from billing.payments.admin.forms import customer_field
from billing.payments.admin.refund_pages import RefundPagesMixin, add_service_errors
from billing.payments.models.payments import (
    Payment,
    PaymentAllocation,
    PaymentAttempt,
    PaymentSource,
    Refund,
)
from billing.payments.services.allocations import payment_record_received
from billing.payments.services.payments import (
    payment_refresh,
    payment_review_approve,
    payment_review_reject,
)
from billing.payments.services.refunds import REFUNDABLE, payment_refundable
from catalog.money import format_amount
from customers.admin_exports import StaffExportMixin
from customers.models import Customer

REFUSED = (DomainError, TransitionNotAllowed, ValidationError)
FORM_TEMPLATE = "admin/billing/payment_form.html"


def fields_of(model, *, leave_out: tuple = ()) -> list[str]:
    """Every field of `model` but the id (a field added later shows up by itself)."""
    return [f.name for f in model._meta.concrete_fields if f.name not in ("id", *leave_out)]


def events_link(obj) -> str:
    url = reverse("admin:billing_billingevent_changelist")
    query = f"subject_type={obj._meta.label_lower}&subject_id={obj.pk}"
    return format_html('<a href="{}?{}">Billing events</a>', url, query)


class ServiceActionsMixin(ReadOnlyMixin, ActPermissionMixin):
    """Rows change through services only; the actions need the model's change permission.
    `service_arg` is the keyword the services take the row as."""

    service_arg = ""

    def per_row(self, request, queryset, service: Callable, done: str, failure=None, **kwargs):
        """One service call per row (each its own transaction); a refused row, or one whose
        result `failure` calls failed, is reported and the others go on. Returns the results."""
        at, results = timezone.now(), []
        for obj in queryset.order_by("pk"):
            try:
                result = service(**{self.service_arg: obj}, at=at, actor=request.user, **kwargs)
                error = failure(result) if failure else None
            except REFUSED as exc:
                error = error_text(exc)
            if error:
                self.message_user(request, f"{obj}: not possible ({error})", messages.ERROR)
            else:
                results.append(result)
                self.log_change(request, obj, f"{done} (admin action).")
        if results:
            self.message_user(request, f"{done}: {len(results)}.", messages.SUCCESS)
        return results


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False


# Payments
class PaymentAttemptInline(ReadOnlyInline):
    model = PaymentAttempt
    fields = readonly_fields = fields_of(PaymentAttempt, leave_out=("payment",))


class PaymentAllocationInline(ReadOnlyInline):
    model = PaymentAllocation
    fields = readonly_fields = ["invoice", "amount", "created_at"]


class PaymentRefundInline(ReadOnlyInline):
    model = Refund
    fields = readonly_fields = fields_of(Refund, leave_out=("payment",))


class RecordPaymentForm(forms.Form):
    customer = customer_field()
    amount = forms.DecimalField(max_digits=19, decimal_places=4)
    currency = forms.CharField(max_length=3, required=False, help_text="Empty: the customer's.")
    invoices = forms.CharField(
        required=False,
        help_text="Invoice numbers to pay, in order, separated by spaces or commas. Empty: the "
        "customer's open invoices, oldest due first. The rest goes to the customer balance.",
    )
    reference = forms.CharField(max_length=255, required=False, help_text="Bank reference, …")

    def clean_invoices(self) -> list[Invoice] | None:
        numbers = self.cleaned_data["invoices"].replace(",", " ").split()
        if not numbers:
            return None
        found = {i.number: i for i in Invoice.objects.filter(number__in=numbers)}
        unknown = [n for n in numbers if n not in found]
        if unknown:
            raise ValidationError(f"No such invoice: {', '.join(unknown)}.")
        return [found[n] for n in numbers]


@admin.register(Payment)
class PaymentAdmin(StaffExportMixin, RefundPagesMixin, ServiceActionsMixin, admin.ModelAdmin):
    resource_classes = [PaymentResource]
    service_arg = "payment"
    list_display = [
        "id",
        "customer",
        "invoice",
        "amount_display",
        "status",
        "source",
        "gateway",
        "method_label",
        "created_at",
    ]
    list_filter = ["status", "source", "gateway", "kind", "currency"]
    search_fields = [
        "customer__external_id",
        "customer__name",
        "invoice__number",
        "gateway_reference",
    ]
    list_select_related = ["customer", "invoice", "gateway", "method"]
    date_hierarchy = "created_at"
    fieldsets = [
        ("Payment", {"fields": ["customer", "invoice", "description", "status", "source"]}),
        ("Amount", {"fields": ["amount_display", "refunded", "refundable", "currency"]}),
        ("Method", {"fields": ["kind", "method", "gateway", "gateway_reference"]}),
        ("Outcome", {"fields": ["failure_code", "failure_message", "review_reason"]}),
        ("Next action", {"fields": ["next_action"]}),
        ("Dates", {"fields": ["created_at", "succeeded_at", "failed_at", "updated_at"]}),
        ("History", {"fields": ["events"]}),
    ]
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]
    inlines = [PaymentAttemptInline, PaymentAllocationInline, PaymentRefundInline]
    actions = ["refund_selected", "approve_selected", "reject_selected", "refresh_selected"]
    change_list_template = "admin/billing/payment_change_list.html"
    change_form_template = "admin/billing/payment_change_form.html"

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return f"{format_amount(obj.amount, obj.currency)} {obj.currency}"

    @admin.display(description="method")
    def method_label(self, obj: Payment) -> str:
        return obj.method.label if obj.method_id else "-"

    @admin.display(description="refunded")
    def refunded(self, obj: Payment) -> str:
        return format_amount(obj.amount_refunded, obj.currency)

    @admin.display(description="left to refund")
    def refundable(self, obj: Payment) -> str:
        return format_amount(payment_refundable(obj), obj.currency)

    @admin.display(description="billing events")
    def events(self, obj: Payment) -> str:
        return events_link(obj)

    def has_record_permission(self, request) -> bool:
        codename = get_permission_codename("add", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def report_states(self, request, payments: list[Payment]) -> None:
        if payments:
            states = ", ".join(f"#{p.pk} {p.get_status_display().lower()}" for p in payments)
            self.message_user(request, f"Now: {states}.", messages.INFO)

    # Actions
    @admin.action(permissions=["act"], description="Approve (fraud review) and charge")
    def approve_selected(self, request, queryset):
        approved = self.per_row(request, queryset, payment_review_approve, "Approved")
        self.report_states(request, approved)

    @admin.action(permissions=["act"], description="Reject (fraud review)")
    def reject_selected(self, request, queryset):
        self.per_row(request, queryset, payment_review_reject, "Rejected")

    @admin.action(permissions=["act"], description="Ask the gateway again")
    def refresh_selected(self, request, queryset):
        self.report_states(request, self.per_row(request, queryset, payment_refresh, "Asked"))

    # Pages
    def get_urls(self):
        name, view = f"{self.opts.app_label}_{self.opts.model_name}", self.admin_site.admin_view
        return [
            path("record/", view(self.record_view), name=f"{name}_record"),
            path("<int:pk>/refund/", view(self.refund_view), name=f"{name}_refund"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {**(extra_context or {}), "can_record": self.has_record_permission(request)}
        return super().changelist_view(request, extra)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        payment = self.get_object(request, object_id)
        can_refund = payment is not None and payment.status in REFUNDABLE
        can_refund = can_refund and self.has_act_permission(request)
        extra = {**(extra_context or {}), "can_refund": can_refund}
        return super().change_view(request, object_id, form_url, extra)

    def form_page(
        self,
        request,
        form,
        *,
        title: str,
        payment: Payment | None = None,
        confirm: dict | None = None,
    ):
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": title}
        context.update(form=form, payment=payment, confirm=confirm)
        if payment is not None:
            context["summary"] = {
                "Customer": payment.customer,
                "Amount": self.amount_display(payment),
                "Refunded": self.refunded(payment),
                "Left to refund": self.refundable(payment),
                "Status": payment.get_status_display(),
                "Method": self.method_label(payment),
            }
        return TemplateResponse(request, FORM_TEMPLATE, context)

    def record_view(self, request):
        if not self.has_record_permission(request):
            raise PermissionDenied
        form = RecordPaymentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                payment = payment_record_received(
                    customer=data["customer"],
                    amount=data["amount"],
                    currency=data["currency"].upper() or data["customer"].currency,
                    invoices=data["invoices"],
                    reference=data["reference"],
                    source=PaymentSource.MANUAL,
                    at=timezone.now(),
                    actor=request.user,
                )
            except REFUSED as exc:
                add_service_errors(form, exc)
            else:
                applied = ", ".join(
                    f"{format_amount(a.amount, payment.currency)} to {a.invoice}"
                    for a in payment.allocations.select_related("invoice")
                )
                text = f"Recorded payment #{payment.pk}, applied {applied or 'to no invoice'}"
                self.message_user(request, f"{text}; the rest is customer balance.")
                return redirect("admin:billing_payment_change", payment.pk)
        return self.form_page(request, form, title="Record a payment received")


# Refunds
@admin.register(Refund)
class RefundAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "payment",
        "customer",
        "amount_display",
        "status",
        "reason",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "currency"]
    search_fields = [
        "payment__customer__external_id",
        "payment__customer__name",
        "gateway_reference",
        "idempotency_key",
    ]
    list_select_related = ["payment__customer"]
    date_hierarchy = "created_at"
    fields = readonly_fields = ["customer", *fields_of(Refund)]

    @admin.display(description="customer")
    def customer(self, obj: Refund) -> Customer:
        return obj.payment.customer

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Refund) -> str:
        return f"{format_amount(obj.amount, obj.currency)} {obj.currency}"
