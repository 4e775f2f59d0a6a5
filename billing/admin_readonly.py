"""A mixin for admin pages and inlines that only show rows (logs, ledgers, billed history)."""


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
