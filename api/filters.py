"""List filters shared by every app's API views."""

import django_filters
from django.db.models import Q

from api.views import is_id


class IdOrCodeFilter(django_filters.CharFilter):
    """`?<name>=<id or code>`: the object named by its id or by its `external_id`/`code`/
    `number`, like a path. A value matching nothing answers an empty list. `id_field` and
    `code_field` may each be several lookups (any of them matching)."""

    def __init__(
        self,
        *,
        id_field: str | tuple[str, ...],
        code_field: str | tuple[str, ...],
        what: str = "",
        **kwargs,
    ):
        self.id_fields = (id_field,) if isinstance(id_field, str) else id_field
        self.code_fields = (code_field,) if isinstance(code_field, str) else code_field
        code_name = self.code_fields[0].rsplit("__", 1)[-1]
        kwargs.setdefault("help_text", f"{what or 'Object'} id or {code_name}.")
        super().__init__(**kwargs)

    def filter(self, qs, value):
        if value in ([], (), {}, "", None):
            return qs
        condition = Q()
        for field in self.code_fields:
            condition |= Q(**{field: value})
        if is_id(value):
            for field in self.id_fields:
                condition |= Q(**{field: int(value)})
        qs = qs.filter(condition)
        return qs.distinct() if self.distinct else qs


def customer_filter(**kwargs) -> IdOrCodeFilter:
    """`?customer=<id or external_id>` on a model with a `customer` foreign key."""
    return IdOrCodeFilter(
        id_field="customer_id", code_field="customer__external_id", what="Customer", **kwargs
    )
