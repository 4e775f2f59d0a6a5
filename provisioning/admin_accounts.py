"""Customer service keys and seats in the operations console, read-only: keys are revoked
or rotated and seats unassigned through the services, one call per row; a rotated key's
secret is shown once, as a message (session-stored, never in a cookie). Imported by
provisioning/admin.py."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django_fsm import TransitionNotAllowed

from api.errors import DomainError, error_text
from billing.events.admin_mixins import ActPermissionMixin, ReadOnlyMixin
from provisioning.models import SeatAssignment, ServiceKey
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

    @admin.action(permissions=["act"], description="Revoke selected keys")
    def revoke_selected(self, request, queryset):
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
