"""Saving many rows at once.

Django's `bulk_update` builds one CASE expression per field and row, which costs more than
the billing it saves. On PostgreSQL, rows are written with one `UPDATE … FROM unnest(…)`
per set of changed fields, and inserted with one `INSERT … SELECT FROM unnest(…)`: one
array parameter per column, whatever the number of rows.
"""

from collections import defaultdict

import psycopg
from django.db import connection, models
from django.db.models.expressions import Col


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


def columns_insert(
    model: type[models.Model],
    columns: dict[str, list],
    *,
    conflict: list[str] | None = None,
    update: str | None = None,
    returning: list[str] | None = None,
) -> list[tuple]:
    """Insert rows given as columns (field name -> plain Python values, JSON as text), in
    that order; with `conflict`, rows whose unique `conflict` fields are taken are skipped
    (`update` None) or updated (`update`: the SQL after DO UPDATE SET, the stored row is
    `t`). Returns the `returning` fields of the rows written, in insertion order.

    On PostgreSQL: one `INSERT … SELECT FROM unnest(…) WITH ORDINALITY ORDER BY …` with one
    array parameter per column bound on the server (no SQL text built from the values),
    whatever the number of rows. Rows are written, and locked, in the order given."""
    meta = model._meta
    names = list(columns)
    fields = [meta.get_field(name) for name in names]
    count = len(columns[names[0]]) if names else 0
    if not count:
        return []
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    column_list = ", ".join(quote(field.column) for field in fields)
    tail = ""
    if conflict:
        target = ", ".join(quote(meta.get_field(name).column) for name in conflict)
        tail = f" ON CONFLICT ({target}) " + (f"DO UPDATE SET {update}" if update else "DO NOTHING")
    if returning:
        tail += " RETURNING " + ", ".join(quote(meta.get_field(n).column) for n in returning)
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%b::{field.db_type(connection)}[]" for field in fields)
        sql = (
            f"INSERT INTO {table} AS t ({column_list}) SELECT {column_list} "  # noqa: S608 - quoted names
            f"FROM unnest({arrays}) WITH ORDINALITY AS v({column_list}, n) ORDER BY n{tail}"
        )
        found = _pg_execute(sql, [columns[name] for name in names], fetch=bool(returning))
        return _converted(model, returning, found)
    found = []
    json_fields = [field.get_internal_type() == "JSONField" for field in fields]  # given as text
    one = f"({', '.join(['%s'] * len(fields))})"
    with connection.cursor() as cursor:
        for start in range(0, count, 500):
            stop = min(start + 500, count)
            params = [
                value if is_json else field.get_db_prep_save(value, connection)
                for i in range(start, stop)
                for name, field, is_json in zip(names, fields, json_fields, strict=True)
                for value in (columns[name][i],)
            ]
            cursor.execute(
                f"INSERT INTO {table} AS t ({column_list}) "  # noqa: S608 - quoted names
                f"VALUES {', '.join([one] * (stop - start))}{tail}",
                params,
            )
            if returning:
                found += cursor.fetchall()
    return _converted(model, returning, found)


def _pg_execute(sql: str, params: list, *, fetch: bool) -> list[tuple]:
    """Run `sql` on Django's connection (so in its transaction) with server-side binding:
    big array parameters travel as values, not as quoted SQL text. The cursor is wrapped
    as Django wraps its own (query logging, execute wrappers)."""
    connection.ensure_connection()
    with connection._prepare_cursor(psycopg.Cursor(connection.connection)) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if fetch else []


def _converted(model: type[models.Model], names: list[str] | None, rows: list[tuple]) -> list:
    """Raw returned values as the ORM would give them (e.g. SQLite's datetimes as text)."""
    if not names or not rows:
        return rows
    convert = []
    for index, name in enumerate(names):
        column = Col(model._meta.db_table, model._meta.get_field(name))
        steps = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if steps:
            convert.append((index, column, steps))
    if not convert:
        return rows
    result = []
    for row in rows:
        row = list(row)
        for index, column, steps in convert:
            for step in steps:
                row[index] = step(row[index], column, connection)
        result.append(tuple(row))
    return result
