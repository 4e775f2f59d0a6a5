"""Customer access, provisioned entitlements and entitlement overrides in the operations
console. Access and provisioned entitlements are read-only: they follow billing through the
services (the "Re-sync entitlements" action calls `entitlements_sync`, one call per row).
Overrides are added through `entitlement_override_create` and ended through
`entitlement_override_end`; an override is never edited in place. Imported by
provisioning/admin.py.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from api.errors import DomainError, error_text
from billing.events.admin_mixins import ReadOnlyMixin
from provisioning.admin_accounts import AccountSuspendMixin
from provisioning.models import CustomerAccess, EntitlementOverride, ProvisionedEntitlement
from provisioning.services.entitlements import entitlements_sync
from provisioning.services.overrides import (
    entitlement_override_create,
    entitlement_override_end,
    override_errors,
)

REFUSED = (DomainError, ValidationError)


def _value(row: ProvisionedEntitlement) -> str:
    if not row.enabled:
        return "off"
    if row.feature.kind == "boolean":
        return "on"
    return "unlimited" if row.limit is None else str(row.limit)


def _may_change(model_admin, request) -> bool:
    codename = get_permission_codename("change", model_admin.opts)
    return request.user.has_perm(f"{model_admin.opts.app_label}.{codename}")


@admin.register(CustomerAccess)
class CustomerAccessAdmin(AccountSuspendMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "customer",
        "status",
        "version",
        "activated_at",
        "suspended_at",
        "suspend_reason",
        "deprovision_at",
        "deprovisioned_at",
        "updated_at",
    ]
    list_filter = ["status", "suspend_reason"]
    search_fields = ["customer__external_id", "customer__name", "customer__email"]
    list_select_related = ["customer"]
    fields = [*list_display, "suspend_comment", "entitlements"]
    readonly_fields = fields
    actions = ["resync_entitlements", "suspend_selected", "restore_selected"]

    @admin.display(description="Provisioned entitlements")
    def entitlements(self, access):
        rows = ProvisionedEntitlement.objects.filter(customer_id=access.customer_id).select_related(
            "feature"
        )
        items = format_html_join(
            "",
            "<li>{}: {} — {}</li>",
            (
                (
                    row.feature.code,
                    _value(row),
                    row.source or "—",
                )
                for row in rows.order_by("feature__code")
            ),
        )
        url = reverse("admin:provisioning_provisionedentitlement_changelist")
        link = format_html(
            '<a href="{}?customer__id__exact={}">All rows</a>', url, access.customer_id
        )
        return format_html("<ul>{}</ul>{}", items, link) if rows else link

    @admin.action(description="Re-sync entitlements with billing", permissions=["act"])
    def resync_entitlements(self, request, queryset):
        at, changed = timezone.now(), 0
        for access in queryset.select_related("customer").order_by("pk"):
            try:
                changed += entitlements_sync(customer=access.customer, at=at, actor=request.user)
            except REFUSED as exc:
                self.message_user(request, f"{access}: not possible ({error_text(exc)})", "error")
        self.message_user(
            request, f"Entitlements changed for {changed} customer(s).", messages.SUCCESS
        )

    def has_act_permission(self, request) -> bool:
        return _may_change(self, request)


@admin.register(ProvisionedEntitlement)
class ProvisionedEntitlementAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["customer", "feature", "enabled", "limit", "source", "updated_at"]
    list_filter = ["enabled", "feature__kind", "feature"]
    search_fields = ["customer__external_id", "customer__name", "feature__code", "source"]
    list_select_related = ["customer", "feature"]
    fields = list_display
    readonly_fields = fields


class EntitlementOverrideAddForm(forms.ModelForm):
    class Meta:
        model = EntitlementOverride
        fields = ["customer", "feature", "kind", "limit", "starts_at", "expires_at", "reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "starts_at" in self.fields:
            self.fields["starts_at"].initial = timezone.now
            self.fields["reason"].required = True
            self.fields["limit"].help_text = (
                "Quota or seats only: grant = at least this many, limit = exactly this many; "
                "empty = unlimited. On/off features and revokes take none."
            )

    def clean(self):
        """The service's checks, so that a refusal shows on the form."""
        cleaned = super().clean()
        if "starts_at" not in self.fields or not {"feature", "kind", "starts_at"} <= set(cleaned):
            return cleaned
        errors = override_errors(
            feature=cleaned["feature"],
            kind=cleaned["kind"],
            limit=cleaned.get("limit"),
            starts_at=cleaned["starts_at"],
            expires_at=cleaned.get("expires_at"),
            reason=cleaned.get("reason") or "",
            at=timezone.now(),
        )
        for field, error in errors.items():
            if field not in self.errors:
                self.add_error(field, error)
        return cleaned


@admin.register(EntitlementOverride)
class EntitlementOverrideAdmin(admin.ModelAdmin):
    list_display = [
        "customer",
        "feature",
        "kind",
        "limit",
        "starts_at",
        "expires_at",
        "reason",
        "created_by",
    ]
    list_filter = ["kind", "feature"]
    search_fields = ["customer__external_id", "customer__name", "feature__code", "reason"]
    list_select_related = ["customer", "feature"]
    autocomplete_fields = ["customer", "feature"]
    date_hierarchy = "starts_at"
    form = EntitlementOverrideAddForm
    detail_fields = [*list_display, "created_at"]
    actions = ["end_now"]

    def get_fields(self, request, obj=None):
        return EntitlementOverrideAddForm.Meta.fields if obj is None else self.detail_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.detail_fields

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # ended through the service, never deleted in place

    def has_act_permission(self, request) -> bool:
        return _may_change(self, request)

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except REFUSED as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        override = entitlement_override_create(
            customer=data["customer"],
            feature=data["feature"],
            kind=data["kind"],
            limit=data.get("limit"),
            starts_at=data["starts_at"],
            expires_at=data.get("expires_at"),
            reason=data["reason"],
            at=timezone.now(),
            actor=request.user,
        )
        obj.pk = override.pk
        obj.refresh_from_db()
        obj._state.adding = False

    @admin.action(description="End now (entitlements follow at once)", permissions=["act"])
    def end_now(self, request, queryset):
        at, ended = timezone.now(), 0
        for override in queryset.select_related("customer").order_by("pk"):
            try:
                entitlement_override_end(override=override, at=at, actor=request.user)
                ended += 1
            except REFUSED as exc:
                self.message_user(request, f"{override}: not possible ({error_text(exc)})", "error")
        if ended:
            self.message_user(request, f"Ended: {ended}.", messages.SUCCESS)
