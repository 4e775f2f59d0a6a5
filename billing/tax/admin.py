"""Tax in the operations console: the seller's settings (one row), where it collects, staff's
rate overrides, and the customers' VAT numbers with their checks. Imported by billing/admin.py.

Settings and registrations change only through billing.tax.services (each records a billing
event); "Check VAT numbers now" calls `customer_tax_id_check` once per selected customer.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from api.errors import error_text
from billing.events.admin import billing_events_url
from billing.events.admin_mixins import ActPermissionMixin
from billing.tax.models import CustomerVatNumber, TaxRateOverride, TaxRegistration, TaxSettings
from billing.tax.services import (
    SETTINGS_FIELDS,
    customer_tax_id_check,
    tax_rate_override_errors,
    tax_rate_override_save,
    tax_registration_create,
    tax_registration_delete,
    tax_settings,
    tax_settings_update,
)
from customers.models import TaxIdStatus


class ServiceErrorsMixin:
    """A service's ValidationError on save is shown as a message (the form is shown again
    empty); the form's own checks already caught what they can."""

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def change_view(self, request, object_id, form_url="", extra_context=None):
        try:
            return super().change_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


# The seller's settings
@admin.register(TaxSettings)
class TaxSettingsAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    """One row (made on first use): its list shows that row, its change page saves through
    `tax_settings_update`; no add, no delete."""

    list_display = ["__str__", "legal_name", "seller_country", "seller_region", "rounding"]
    list_display_links = ["__str__"]
    fields = [*SETTINGS_FIELDS, "registrations", "updated_at", "history"]
    readonly_fields = ["registrations", "updated_at", "history"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["labels"] = {"eu_oss": "EU One-Stop Shop (OSS)"}
        return super().get_form(request, obj, change=change, **kwargs)

    def get_object(self, request, object_id, from_field=None):
        if str(object_id) == "1":
            tax_settings()  # the one row, made on first use
        return super().get_object(request, object_id, from_field)

    def changelist_view(self, request, extra_context=None):
        tax_settings()  # the one row exists before it is listed
        return super().changelist_view(request, extra_context)

    @admin.display(description="registrations")
    def registrations(self, obj: TaxSettings) -> str:
        found = ", ".join(str(r) for r in TaxRegistration.objects.all()) or "none"
        changelist = reverse("admin:billing_taxregistration_changelist")
        return format_html('{} (<a href="{}">manage</a>)', found, changelist)

    @admin.display(description="billing events")
    def history(self, obj: TaxSettings) -> str:
        return format_html('<a href="{}">Changes of the tax settings</a>', billing_events_url(obj))

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        if changes:
            saved = tax_settings_update(at=timezone.now(), actor=request.user, **changes)
            obj.updated_at = saved.updated_at


# Where the seller collects
@admin.register(TaxRegistration)
class TaxRegistrationAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    """Added through `tax_registration_create`, removed through `tax_registration_delete`;
    never edited (remove and add again)."""

    list_display = ["country", "region", "number", "created_at"]
    list_filter = ["country"]
    search_fields = ["country", "region", "number"]
    fields = ["country", "region", "number"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else [*self.fields, "created_at"]

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else [*self.fields, "created_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        registration = tax_registration_create(
            country=data["country"],
            region=data.get("region", ""),
            number=data.get("number", ""),
            at=timezone.now(),
            actor=request.user,
        )
        obj.pk = registration.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def delete_model(self, request, obj):
        tax_registration_delete(registration=obj, at=timezone.now(), actor=request.user)

    def delete_queryset(self, request, queryset):
        at = timezone.now()
        for registration in queryset.order_by("pk"):
            tax_registration_delete(registration=registration, at=at, actor=request.user)


# Staff's rates
class TaxRateOverrideForm(forms.ModelForm):
    class Meta:
        model = TaxRateOverride
        fields = [
            "jurisdiction",
            "name",
            "rate",
            "valid_from",
            "valid_to",
            "taxable_share",
            "source",
        ]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("valid_from"), cleaned.get("valid_to")
        if start and end and end <= start:
            self.add_error("valid_to", "Must be after the first day (it is exclusive).")
        if self.errors or not (cleaned.get("jurisdiction") and cleaned.get("name")):
            return cleaned
        candidate = TaxRateOverride(
            pk=self.instance.pk,
            jurisdiction=cleaned["jurisdiction"],
            name=cleaned["name"],
            valid_from=start,
            valid_to=end,
        )
        error = tax_rate_override_errors(candidate)
        if error is not None:
            raise error
        return cleaned


@admin.register(TaxRateOverride)
class TaxRateOverrideAdmin(ServiceErrorsMixin, admin.ModelAdmin):
    """Rates that replace the built-in table's rows of the same jurisdiction and name while
    in force; two of the same jurisdiction and name never overlap."""

    form = TaxRateOverrideForm
    list_display = [
        "jurisdiction",
        "name",
        "rate",
        "valid_from",
        "valid_to",
        "taxable_share",
        "source",
        "created_at",
    ]
    list_filter = ["name", "jurisdiction"]
    search_fields = ["jurisdiction", "name", "source"]

    def save_model(self, request, obj, form, change):
        tax_rate_override_save(override=obj, at=timezone.now(), actor=request.user)


# Customers' VAT numbers
class TaxIdFilledFilter(admin.SimpleListFilter):
    title = "VAT number"
    parameter_name = "has_number"

    def lookups(self, request, model_admin):
        return [("yes", "Given"), ("no", "None")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(tax_id="")
        if self.value() == "no":
            return queryset.filter(tax_id="")
        return queryset


@admin.register(CustomerVatNumber)
class CustomerVatNumberAdmin(ActPermissionMixin, admin.ModelAdmin):
    """The customers' VAT/GST numbers with the status and evidence of their last check
    (read-only here: customers are edited on their own page)."""

    list_display = [
        "name",
        "external_id",
        "country",
        "tax_id",
        "tax_id_status",
        "tax_id_checked_at",
        "tax_exempt",
    ]
    list_filter = ["tax_id_status", TaxIdFilledFilter, "tax_exempt", "country"]
    search_fields = ["name", "external_id", "tax_id", "email"]
    fields = [
        "name",
        "external_id",
        "country",
        "address_country",
        "address_state",
        "tax_id",
        "tax_id_status",
        "tax_id_checked_at",
        "evidence",
        "tax_exempt",
    ]
    readonly_fields = fields
    actions = ["check_now"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="evidence")
    def evidence(self, obj: CustomerVatNumber) -> str:
        if not obj.tax_id_evidence:
            return "-"
        text = json.dumps(obj.tax_id_evidence, indent=2, sort_keys=True, cls=DjangoJSONEncoder)
        return format_html("<pre>{}</pre>", text)

    @admin.action(permissions=["act"], description="Check VAT numbers now")
    def check_now(self, request, queryset):
        """Each selected customer's number checked again (VIES in `vies` mode: one request
        each, outside any transaction), its answer stored with the evidence."""
        at = timezone.now()
        counts: dict[str, int] = {}
        for customer in queryset.order_by("pk"):
            checked = customer_tax_id_check(customer=customer, at=at)
            counts[checked.tax_id_status] = counts.get(checked.tax_id_status, 0) + 1
            self.log_change(request, customer, f"VAT number checked: {checked.tax_id_status}.")
        labels = dict(TaxIdStatus.choices)
        summary = ", ".join(f"{labels[s].split(' (')[0].lower()}: {n}" for s, n in counts.items())
        level = messages.WARNING if TaxIdStatus.PENDING in counts else messages.SUCCESS
        self.message_user(request, f"Checked {sum(counts.values())} ({summary}).", level)
