"""Saving many rows at once.

Django's `bulk_update` builds one CASE expression per field and row, which costs more than
the billing it saves. On PostgreSQL, rows are written with one `UPDATE … FROM unnest(…)`
per set of changed fields: one array parameter per column, whatever the number of rows.
"""

import json
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


def _pg_unnest(fields: list, rows: list) -> tuple[str, str, list]:
    """Column names, `unnest(%s::type[], …)` and one array parameter per column."""
    quote = connection.ops.quote_name
    names = ", ".join(quote(field.column) for field in fields)
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    params = [[_db_value(field, row) for row in rows] for field in fields]
    return names, f"unnest({arrays})", params


def _db_value(field, row):
    value = getattr(row, field.attname)
    if field.get_internal_type() == "JSONField":
        return json.dumps(value, cls=field.encoder, separators=(",", ":"))
    return field.get_db_prep_save(value, connection)


def _insertable(model: type[models.Model]) -> list:
    return [
        f
        for f in model._meta.concrete_fields
        if not f.generated and f is not model._meta.auto_field
    ]


def rows_insert(model: type[models.Model], rows: list[models.Model]) -> None:
    """Insert new rows of `model` and set their ids. On PostgreSQL one `INSERT … SELECT FROM
    unnest(…) WITH ORDINALITY ORDER BY …`: one array parameter per column, whatever the
    count; ids come back in that order (as Django's bulk_create relies on too)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(rows, batch_size=500)
        return
    names, source, params = _pg_unnest(_insertable(model), rows)
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {source} WITH ORDINALITY "  # noqa: S608 - quoted names
            f"AS v({names}, n) ORDER BY n RETURNING {pk}",
            params,
        )
        for row, (pk_value,) in zip(rows, cursor.fetchall(), strict=True):
            row.pk = pk_value


def rows_insert_new(
    model: type[models.Model], rows: list[models.Model], unique: list[str], returning: str
) -> list:
    """Insert the rows whose `unique` fields are not taken yet, in the order given (so
    concurrent callers that sort their rows wait for each other in the same order); returns
    the `returning` column of the rows inserted. A row taken by a transaction not yet
    committed waits for it, then counts as taken. The values come in no particular order."""
    return _insert_returning(model, rows, unique, "DO NOTHING", returning)


def rows_upsert_lock(
    model: type[models.Model], rows: list[models.Model], unique: list[str], touch: str
) -> list:
    """Insert the rows whose `unique` fields are not taken yet and lock the existing ones
    (their `touch` field is set to the new row's), in the order given; returns the ids of
    all the rows (in no particular order). Callers that sort their rows lock without
    deadlocks."""
    column = connection.ops.quote_name(model._meta.get_field(touch).column)
    action = f"DO UPDATE SET {column} = EXCLUDED.{column}"
    return _insert_returning(model, rows, unique, action, model._meta.pk.name)


def _insert_returning(
    model: type[models.Model], rows: list[models.Model], unique: list[str], action: str, returning
) -> list:
    if not rows:
        return []
    quote = connection.ops.quote_name
    meta = model._meta
    fields = _insertable(model)
    table = quote(meta.db_table)
    conflict = ", ".join(quote(meta.get_field(name).column) for name in unique)
    column = quote(meta.get_field(returning).column)
    found = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            names, source, params = _pg_unnest(fields, rows)
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {source} WITH ORDINALITY "  # noqa: S608 - quoted names
                f"AS v({names}, n) ORDER BY n ON CONFLICT ({conflict}) {action} "
                f"RETURNING {column}",
                params,
            )
            return [row[0] for row in cursor.fetchall()]
        names = ", ".join(quote(field.column) for field in fields)
        one = f"({', '.join(['%s'] * len(fields))})"
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            params = [_db_value(field, row) for row in chunk for field in fields]
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * len(chunk))} "  # noqa: S608 - quoted names
                f"ON CONFLICT ({conflict}) {action} RETURNING {column}",
                params,
            )
            found += [row[0] for row in cursor.fetchall()]
    return found
