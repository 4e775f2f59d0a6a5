"""Saving many rows at once.

Django's `bulk_update` builds one CASE expression per field and row, which costs more than
the billing it saves. On PostgreSQL, rows are written with one `UPDATE … FROM unnest(…)`
per set of changed fields: one array parameter per column, whatever the number of rows.
"""

from collections import defaultdict

from django.db import connection, models


def rows_snapshot(rows: list[models.Model], fields: list[str]) -> dict[int, tuple]:
    """The values of `fields` now, to find later which ones changed."""
    attnames = [rows[0]._meta.get_field(name).attname for name in fields] if rows else []
    return {row.pk: tuple(getattr(row, name) for name in attnames) for row in rows}


def rows_update(
    model: type[models.Model],
    rows: list[models.Model],
    fields: list[str],
    snapshot: dict[int, tuple] | None = None,
) -> None:
    """Write `fields` of `rows` (existing rows of `model`), or, given a `snapshot`, only those
    that changed since; auto_now fields are refreshed on every row written."""
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    auto_now = [field for field in meta.concrete_fields if getattr(field, "auto_now", False)]
    groups: dict[tuple, list] = defaultdict(list)
    for row in rows:
        values = tuple(getattr(row, field.attname) for field in columns)
        before = snapshot.get(row.pk) if snapshot is not None else None
        changed = tuple(
            f
            for f, new, old in zip(columns, values, before or values, strict=True)
            if before is None or new != old
        )
        if changed:
            groups[changed].append(row)
    for changed, group in groups.items():
        for field in auto_now:
            for row in group:
                field.pre_save(row, add=False)
        _update(model, group, [*changed, *(f for f in auto_now if f not in changed)])


def _update(model: type[models.Model], rows: list[models.Model], columns: list) -> None:
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(rows, [f.name for f in columns], batch_size=200)
        return
    quote = connection.ops.quote_name
    pk = model._meta.pk
    every = [pk, *columns]
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in every)
    names = ", ".join(quote(field.column) for field in every)
    sets = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for row in rows]
        for field in every
    ]
    table = quote(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS t SET {sets} FROM unnest({arrays}) AS v({names}) "  # noqa: S608 - quoted names
            f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}",
            params,
        )
