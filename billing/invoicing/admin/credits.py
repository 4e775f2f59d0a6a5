"""Credit notes, the customer balance ledger, coupons and discounts in the operations console.

Credit notes are issued through the API or the invoice's "Credit note…" page
(`credit_note_issue`, billing/invoicing/admin/invoice_pages.py) and are read-only here; their
PDF downloads from their page (finance: the change permission). The
balance ledger is append-only: staff add an adjustment (through `balance_adjust`), never
edit an entry. Coupons are added through `coupon_create`; afterwards only what does not
change the terms of granted discounts can be edited (`coupon_update`). Imported by
billing/admin.py.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone

from api.errors import error_text
from billing.events.admin_mixins import ActPermissionMixin, ReadOnlyMixin
from billing.invoicing.admin.exports import CreditNoteResource
from billing.invoicing.admin.taxes import tax_table
from billing.invoicing.models.credits import (
    BalanceTransaction,
    Coupon,
    CreditNote,
    CreditNoteLine,
    Discount,
)
from billing.invoicing.services.credits import balance_adjust
from billing.invoicing.services.discounts import (
    COUPON_CHANGEABLE,
    coupon_create,
    coupon_terms_errors,
    coupon_update,
)
from billing.invoicing.services.documents import credit_note_pdf, credit_note_pdf_filename
from customers.admin_exports import StaffExportMixin


class CreditNoteLineInline(ReadOnlyMixin, admin.TabularInline):
    model = CreditNoteLine
    extra = 0
    can_delete = False
    fields = ["invoice_line", "description", "amount", "tax_amount"]
    readonly_fields = fields


class CreditNoteBalanceInline(ReadOnlyMixin, admin.TabularInline):
    model = BalanceTransaction
    fk_name = "credit_note"
    extra = 0
    can_delete = False
    verbose_name_plural = "balance transactions"
    fields = ["created_at", "kind", "amount", "currency", "description"]
    readonly_fields = fields


@admin.register(CreditNote)
class CreditNoteAdmin(StaffExportMixin, ReadOnlyMixin, ActPermissionMixin, admin.ModelAdmin):
    resource_classes = [CreditNoteResource]
    list_display = [
        "number",
        "customer",
        "invoice",
        "currency",
        "reason",
        "status",
        "subtotal",
        "tax",
        "total",
        "amount_due_reduction",
        "refund_amount",
        "credit_amount",
        "created_at",
    ]
    list_filter = ["reason", "status", "currency", "created_at"]
    search_fields = ["number", "invoice__number", "customer__external_id", "customer__name"]
    list_select_related = ["customer", "invoice"]
    date_hierarchy = "created_at"
    fields = [
        "number",
        "status",
        "customer",
        "invoice",
        "currency",
        "reason",
        "memo",
        "subtotal",
        "tax",
        "tax_rows",
        "total",
        "amount_due_reduction",
        "refund_amount",
        "credit_amount",
        "created_at",
        "recorded_at",
    ]
    readonly_fields = fields
    inlines = [CreditNoteLineInline, CreditNoteBalanceInline]

    @admin.display(description="taxes")
    def tax_rows(self, obj: CreditNote) -> str:
        return tax_table(obj.taxes)

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_pdf"
        return [
            path("<int:pk>/pdf/", self.admin_site.admin_view(self.pdf_view), name=name),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {**(extra_context or {}), "can_download_pdf": self.has_act_permission(request)}
        return super().change_view(request, object_id, form_url, extra)

    def pdf_view(self, request, pk: int):
        """The credit note's document, as the customer gets it (finance only)."""
        if not self.has_act_permission(request):
            raise PermissionDenied
        note = get_object_or_404(CreditNote.objects.select_related("customer", "invoice"), pk=pk)
        response = HttpResponse(credit_note_pdf(credit_note=note), content_type="application/pdf")
        filename = credit_note_pdf_filename(note)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        self.log_change(request, note, "PDF downloaded (admin).")
        return response


class BalanceAdjustmentForm(forms.ModelForm):
    """A manual entry: + credits the customer, − takes balance away (never below 0)."""

    class Meta:
        model = BalanceTransaction
        fields = ["customer", "currency", "amount", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "description" in self.fields:  # the add form (the change page is read-only)
            self.fields["description"].required = True
            self.fields["amount"].help_text = "+ credit to the customer, − taken from its balance."


@admin.register(BalanceTransaction)
class BalanceTransactionAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "customer",
        "kind",
        "amount",
        "currency",
        "invoice",
        "credit_note",
        "description",
    ]
    list_filter = ["kind", "currency", "created_at"]
    search_fields = [
        "customer__external_id",
        "customer__name",
        "invoice__number",
        "credit_note__number",
        "description",
    ]
    list_select_related = ["customer", "invoice", "credit_note"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["customer"]
    form = BalanceAdjustmentForm
    detail_fields = [
        "customer",
        "currency",
        "amount",
        "kind",
        "invoice",
        "credit_note",
        "description",
        "created_at",
        "recorded_at",
    ]

    def get_fields(self, request, obj=None):
        return BalanceAdjustmentForm.Meta.fields if obj is None else self.detail_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.detail_fields

    def has_change_permission(self, request, obj=None):
        return False  # append-only

    def has_delete_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        entry = balance_adjust(
            customer=data["customer"],
            currency=data["currency"],
            amount=data["amount"],
            description=data["description"],
            at=timezone.now(),
            actor=request.user,
        )
        obj.pk = entry.pk
        obj.refresh_from_db()
        obj._state.adding = False


class CouponAddForm(forms.ModelForm):
    """Checks the coupon's terms as `coupon_create` does, so the errors show on the form."""

    class Meta:
        model = Coupon
        fields = [
            "code",
            "name",
            "kind",
            "percent_off",
            "amount_off",
            "currency",
            "duration",
            "duration_in_periods",
            "max_redemptions",
            "redeem_by",
            "active",
        ]

    def clean(self):
        cleaned = super().clean()
        fields = {name: cleaned.get(name) for name in self.Meta.fields if name in cleaned}
        for field, error in coupon_terms_errors(Coupon(**fields)).items():
            if field in self.fields and field not in self.errors:
                self.add_error(field, error)
        return cleaned


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "kind",
        "percent_off",
        "amount_off",
        "currency",
        "duration",
        "duration_in_periods",
        "times_redeemed",
        "max_redemptions",
        "redeem_by",
        "active",
    ]
    list_filter = ["active", "kind", "duration", "currency"]
    search_fields = ["code", "name"]
    terms = [
        "code",
        "kind",
        "percent_off",
        "amount_off",
        "currency",
        "duration",
        "duration_in_periods",
        "created_at",
    ]

    @admin.display(description="redeemed")
    def times_redeemed(self, obj: Coupon) -> int:
        return obj.discounts.count()

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = CouponAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return CouponAddForm.Meta.fields
        return [*COUPON_CHANGEABLE, *self.terms]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.terms

    def has_delete_permission(self, request, obj=None):
        return False  # discounts point at it: deactivate instead

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data if name in COUPON_CHANGEABLE}
            if changes:
                coupon_update(coupon=obj, at=timezone.now(), actor=request.user, **changes)
            obj.refresh_from_db()
            return
        coupon = coupon_create(
            at=timezone.now(),
            actor=request.user,
            **{name: data.get(name) for name in CouponAddForm.Meta.fields},
        )
        obj.pk = coupon.pk
        obj.refresh_from_db()
        obj._state.adding = False


@admin.register(Discount)
class DiscountAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "coupon",
        "customer",
        "subscription",
        "start_at",
        "periods_applied",
        "end_at",
    ]
    list_filter = [("end_at", admin.EmptyFieldListFilter), "coupon"]
    search_fields = ["coupon__code", "customer__external_id", "customer__name"]
    list_select_related = ["coupon", "customer", "subscription"]
    date_hierarchy = "start_at"
    fields = [
        "coupon",
        "customer",
        "subscription",
        "start_at",
        "periods_applied",
        "end_at",
        "created_at",
    ]
    readonly_fields = fields
