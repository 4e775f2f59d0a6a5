"""API keys (made and revoked through the services; the raw key is shown once) and the
idempotency records, read-only."""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from api.admin_confirm import action_confirmation
from api.models import ApiKey, ApiKeyScope, IdempotencyRecord
from api.services import api_key_create, api_key_revoke


class ApiKeyAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes"]


class RevokedFilter(admin.SimpleListFilter):
    title = "revoked"
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return [("yes", "Revoked"), ("no", "Active")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(revoked_at__isnull=True)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
        "active",
    ]
    list_filter = [RevokedFilter]
    search_fields = ["name", "prefix"]
    readonly_fields = [
        "prefix",
        "scopes",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke_selected"]

    @admin.display(boolean=True, description="active")
    def active(self, obj: ApiKey) -> bool:
        return obj.is_active

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "scopes"]
        return ["name", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        key, raw_key = api_key_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,
        )
        # The admin goes on with `obj` (log entry, redirect): give it the saved row.
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding = False
        messages.warning(
            request,
            f"The new key for “{key.name}” is {raw_key} — copy it now, it will not be shown again.",
        )

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the key id stays in the audit trail

    @admin.action(permissions=["change"], description="Revoke selected keys…")
    def revoke_selected(self, request, queryset):
        page = action_confirmation(
            self,
            request,
            queryset,
            action="revoke_selected",
            title="Revoke these keys",
            consequence="Requests signed with these keys are refused at once. "
            "A revoked key cannot be used again.",
        )
        if page is not None:
            return page
        at = timezone.now()
        revoked = 0
        for key in queryset.order_by("pk"):
            if key.revoked_at is None:
                api_key_revoke(api_key=key, at=at)
                self.log_change(request, key, "Revoked.")
                revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = [
        "key",
        "api_key",
        "method",
        "path",
        "response_status",
        "created_at",
        "completed_at",
    ]
    list_filter = ["method", "response_status"]
    search_fields = ["key", "path"]
    list_select_related = ["api_key"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
