"""Customer service keys and seats in the operations console, read-only: keys are revoked
or rotated and seats unassigned through the services, one call per row; a rotated key's
secret is shown once, as a message (session-stored, never in a cookie). Imported by
provisioning/admin.py.

Also the suspension of a customer's account by staff (`AccountSuspendMixin`, mixed into
CustomerAccessAdmin): suspend with a reason and restore, each after a confirmation page (from
the access page's buttons or the list actions), one `account_suspend` / `account_restore`
call per row, for staff with the provisioning change permission (the operations group)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django_fsm import TransitionNotAllowed

from api.admin_confirm import action_confirmation
from api.errors import DomainError, error_text
from billing.events.admin_mixins import ActPermissionMixin, ReadOnlyMixin
from provisioning.models import (
    AccessStatus,
    CustomerAccess,
    SeatAssignment,
    ServiceKey,
    SuspendReason,
)
from provisioning.services.accounts import account_restore, account_suspend
from provisioning.services.keys import service_key_revoke, service_key_rotate
from provisioning.services.seats import seat_unassign

REFUSED = (DomainError, TransitionNotAllowed, ValidationError)


class ServiceRowsAdmin(ReadOnlyMixin, ActPermissionMixin, admin.ModelAdmin):
    """Rows change through services only; the actions need the model's change permission."""


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("usable", "Not revoked or expired"),
            ("unrevealed", "Not revealed yet"),
            ("revoked", "Revoked"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "unrevealed":
            return queryset.filter(unrevealed=True, revoked_at__isnull=True)
        if self.value() == "usable":
            now = timezone.now()
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        return queryset


@admin.register(ServiceKey)
class ServiceKeyAdmin(ServiceRowsAdmin):
    list_display = [
        "name",
        "customer",
        "prefix",
        "scopes",
        "state",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "revealed_at",
    ]
    list_filter = [KeyStateFilter]
    search_fields = ["name", "prefix", "customer__external_id", "customer__name"]
    list_select_related = ["customer"]
    fields = readonly_fields = [
        "customer",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "expires_at",
        "revoked_at",
        "rotated_from",
        "last_used_at",
        "unrevealed",
        "revealed_at",
    ]
    date_hierarchy = "created_at"
    actions = ["revoke_selected", "rotate_selected"]

    @admin.display(description="state")
    def state(self, key: ServiceKey) -> str:
        if key.revoked_at is not None:
            return "revoked"
        if key.expires_at is None:
            return "unrevealed" if key.unrevealed else "active"
        return "expiring" if key.expires_at > timezone.now() else "expired"

    @admin.action(permissions=["act"], description="Revoke selected keys…")
    def revoke_selected(self, request, queryset):
        page = action_confirmation(
            self,
            request,
            queryset,
            action="revoke_selected",
            title="Revoke these keys",
            consequence="The customer's services stop accepting these keys at once; a "
            "revoked key cannot be used again (rotate instead to keep one working a while).",
        )
        if page is not None:
            return page
        at, revoked = timezone.now(), 0
        for key in queryset.order_by("pk"):
            if key.revoked_at is None:
                service_key_revoke(key=key, at=at, actor=request.user)
                self.log_change(request, key, "Revoked (admin action).")
                revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)

    @admin.action(
        permissions=["act"],
        description="Rotate selected keys (old ones keep working 24 hours)",
    )
    @sensitive_variables()  # an error report shows none of its variables (the new secret)
    def rotate_selected(self, request, queryset):
        at = timezone.now()
        for key in queryset.order_by("pk"):
            try:
                new, raw = service_key_rotate(key=key, at=at, actor=request.user)
            except REFUSED as exc:
                self.message_user(
                    request, f"{key}: not rotated ({error_text(exc)})", messages.ERROR
                )
                continue
            self.log_change(request, key, f"Rotated (admin action): new key #{new.pk}.")
            messages.warning(
                request,
                f"The new key for “{new.name}” of {key.customer.external_id} is {raw} — copy it "
                "now, it will not be shown again.",
            )


@admin.register(SeatAssignment)
class SeatAssignmentAdmin(ServiceRowsAdmin):
    list_display = ["customer", "feature", "user", "assigned_at"]
    list_filter = ["feature"]
    search_fields = ["customer__external_id", "customer__name", "user__user__username"]
    list_select_related = ["customer", "feature", "user__user", "user__customer"]
    fields = readonly_fields = ["customer", "feature", "user", "assigned_at"]
    actions = ["unassign_selected"]

    @admin.action(permissions=["act"], description="Unassign selected seats")
    def unassign_selected(self, request, queryset):
        at, freed = timezone.now(), 0
        for seat in queryset.select_related("customer", "feature", "user").order_by("pk"):
            freed += seat_unassign(
                customer=seat.customer, feature=seat.feature, user=seat.user, at=at
            )
            self.log_change(request, seat, "Unassigned (admin action).")
        self.message_user(request, f"Unassigned {freed} seat(s).", messages.SUCCESS)


# Account suspension by staff
class AccountSuspendForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "Choose a reason…"), *SuspendReason.choices])
    comment = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept on the account with the reason (required for “Other”).",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("reason") == SuspendReason.OTHER and not cleaned.get("comment", "").strip():
            self.add_error("comment", "Say why: the reason is “Other”.")
        return cleaned


class AccountRestoreForm(forms.Form):
    comment = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Optional: recorded with the restore.",
    )


class AccountSuspendMixin:
    """For CustomerAccessAdmin: "Suspend…" and "Restore…" as list actions and as buttons on
    the access page, each leading to a confirmation page (`has_act_permission`: change)."""

    account_steps = {
        "suspend": (AccountSuspendForm, "Suspend"),
        "restore": (AccountRestoreForm, "Restore"),
    }

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        urls = [
            path(
                f"<path:object_id>/{step}/",
                self.admin_site.admin_view(getattr(self, f"{step}_view")),
                name=f"{info}_{step}",
            )
            for step in self.account_steps
        ]
        return [*urls, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        access = self.get_object(request, unquote(object_id))
        may = access is not None and self.has_act_permission(request)
        buttons = {
            "account_suspend": may and access.status == AccessStatus.ACTIVE,
            "account_restore": may and access.status == AccessStatus.SUSPENDED,
        }
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **buttons}
        )

    def _one(self, request, object_id, step: str):
        """The access page's button: the list action on this one row."""
        if not self.has_act_permission(request):
            raise PermissionDenied
        access = self.get_object(request, unquote(object_id))
        if access is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        action = getattr(self, f"{step}_selected")
        response = action(request, CustomerAccess.objects.filter(pk=access.pk))
        return response or redirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[access.pk])
        )

    def suspend_view(self, request, object_id):
        return self._one(request, object_id, "suspend")

    def restore_view(self, request, object_id):
        return self._one(request, object_id, "restore")

    def account_confirmation(self, request, queryset, step: str) -> dict | HttpResponse:
        """The confirmation page of suspending or restoring the rows of `queryset` (the
        response), or, once confirmed with a valid form, its data: the caller acts."""
        form_class, verb = self.account_steps[step]
        form, status = form_class(), 200
        if request.method == "POST" and "_confirm" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                return form.cleaned_data
            status = 400
        rows = list(queryset.select_related("customer").order_by("pk"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{verb} {'this account' if len(rows) == 1 else 'these accounts'}?",
            "step": step,
            "verb": verb,
            "form": form,
            "rows": rows,
            "action": f"{step}_selected",
            "original": rows[0] if len(rows) == 1 else None,
        }
        return TemplateResponse(
            request,
            "admin/provisioning/customeraccess/account_confirm.html",
            context,
            status=status,
        )

    def account_run(self, request, queryset, service, done: str, note: str = "") -> None:
        """`service(access)` once per row; a refusal or a row it leaves as it was (nothing to
        do) is reported, each change logged as the staff member's."""
        count = 0
        for access in queryset.select_related("customer").order_by("pk"):
            try:
                result = service(access)
            except REFUSED as exc:
                self.message_user(
                    request, f"{access.customer}: not possible ({error_text(exc)})", messages.ERROR
                )
                continue
            if result.version == access.version:  # the service changed nothing
                self.message_user(
                    request,
                    f"{access.customer}: nothing to do (the account is {result.status}).",
                    messages.WARNING,
                )
                continue
            self.log_change(request, access, f"{done}{note} (admin).")
            count += 1
        if count:
            self.message_user(request, f"{done}: {count}.", messages.SUCCESS)

    @admin.action(permissions=["act"], description="Suspend selected accounts…")
    def suspend_selected(self, request, queryset):
        """A confirmation page with the reason; once confirmed, `account_suspend` per row."""
        if not queryset.exists():
            return None
        confirmed = self.account_confirmation(request, queryset, "suspend")
        if isinstance(confirmed, HttpResponse):
            return confirmed
        at = timezone.now()
        self.account_run(
            request,
            queryset,
            lambda access: account_suspend(
                customer=access.customer,
                at=at,
                reason=confirmed["reason"],
                comment=confirmed["comment"],
                actor=request.user,
            ),
            "Suspended",
            f" ({confirmed['reason']})",
        )
        return None

    @admin.action(permissions=["act"], description="Restore selected accounts…")
    def restore_selected(self, request, queryset):
        """A confirmation page; once confirmed, `account_restore` per row."""
        if not queryset.exists():
            return None
        confirmed = self.account_confirmation(request, queryset, "restore")
        if isinstance(confirmed, HttpResponse):
            return confirmed
        at = timezone.now()
        self.account_run(
            request,
            queryset,
            lambda access: account_restore(
                customer=access.customer, at=at, comment=confirmed["comment"], actor=request.user
            ),
            "Restored",
        )
        return None
