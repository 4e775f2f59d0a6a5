"""Mixins for admin pages: pages and inlines that only show rows (logs, ledgers, billed
history), and the permission of actions that call services."""

from django.contrib.auth import get_permission_codename


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ActPermissionMixin:
    """`@admin.action(permissions=["act"])`: actions that call services need the model's
    change permission, also where the change form itself is off."""

    def has_act_permission(self, request) -> bool:
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")
