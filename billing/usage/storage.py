"""Storage of raw usage events: monthly partitions (PostgreSQL) and retention (archive).

On PostgreSQL `billing_usageevent` is partitioned by range of `timestamp` (migration 0007):
one partition per UTC month, `billing_usageevent_pYYYYMM`, created ahead of time by
`usage_partitions_ensure` (a daily django-q2 schedule), and a default partition that takes
whatever has no month partition yet. Rows already in the default partition are moved when
their month's partition is created.

Retention writes the raw events of whole months to gzip JSON-lines files, then removes them:
a month partition is detached and dropped, other rows are deleted. Aggregates (what billing
reads) and dedup keys (`UsageEventKey`, forever) are never touched.

Partition DDL and archiving take one transaction-level advisory lock, so they never run at
the same time; ingestion does not take it. What ingestion may notice (PostgreSQL):
- creating a partition locks the default partition (ACCESS EXCLUSIVE) while its rows of that
  month move: events routed to the default partition wait, and one of the new partition's
  month that was already waiting fails (partition constraint error; a retry succeeds). Run
  ahead of time (the schedule creates 3 months ahead), the default partition takes no
  traffic of that month and nothing waits.
- archiving a month locks its partition against writes while it is exported (so what is
  removed is exactly what is in the file): a late event of that month waits, and then the
  archive run fails on a deadlock (nothing removed, no file; run it again). Archive months
  long closed.
"""

import gzip
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import connections, transaction
from django.db.models import Count, Min
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncMonth

from billing.usage.models import UsageEvent

TABLE = UsageEvent._meta.db_table  # billing_usageevent
DEFAULT_PARTITION = f"{TABLE}_default"
# pg_advisory_xact_lock key shared by every partition change and archive run.
LOCK_KEY = 0x0B11_0E7E  # "billing usage events"
CHUNK_SIZE = 2000
DELETE_BATCH = 5000
# How long detaching a partition may wait for its lock on the whole table (every query on
# usage events queues behind a waiting ACCESS EXCLUSIVE request).
DETACH_LOCK_TIMEOUT = "10s"
_BOUND = re.compile(r"FOR VALUES FROM \((?P<lo>[^)]*)\) TO \((?P<hi>[^)]*)\)")


# --- Months -----------------------------------------------------------------------------


def _month_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _months_add(month: datetime, count: int) -> datetime:
    index = month.year * 12 + month.month - 1 + count
    return month.replace(year=index // 12, month=index % 12 + 1)


def _month_label(month: datetime) -> str:
    return f"{month:%Y-%m}"


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"`{name}` must be timezone-aware, got {value!r}.")


def _require_month_start(before: datetime) -> None:
    _require_aware("before", before)
    if before != _month_start(before):
        raise ValueError(
            f"`before` must be the first instant of a UTC month (e.g. "
            f"{_month_start(before).isoformat()}), got {before.isoformat()}: only whole "
            "months are archived."
        )


def partition_name(month: datetime) -> str:
    return f"{TABLE}_p{month:%Y%m}"


# --- Partitions -------------------------------------------------------------------------


def usage_partitions_ensure(
    *, at: datetime, months_back: int = 1, months_ahead: int = 3, using: str = "default"
) -> list[str]:
    """Create the month partitions from `months_back` months before the month of `at` to
    `months_ahead` months after it, moving rows of those months out of the default partition.
    Returns the names of the partitions created (none on databases other than PostgreSQL)."""
    _require_aware("at", at)
    if months_back < 0 or months_ahead < 0:
        raise ValueError("`months_back` and `months_ahead` must not be negative.")
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    first = _months_add(_month_start(at), -months_back)
    months = [_months_add(first, i) for i in range(months_back + months_ahead + 1)]
    existing = {p["name"] for p in _partitions(connection)}
    created = []
    for month in months:
        name = partition_name(month)
        if name in existing:
            continue
        # One transaction per partition: the locks below are held for one month's move only.
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            cursor.execute(
                "SELECT 1 FROM pg_inherits WHERE inhparent = %s::regclass "
                "AND inhrelid::regclass::text = %s",
                [TABLE, name],
            )
            if cursor.fetchone():  # created by a concurrent run while we waited
                continue
            _partition_create(cursor, connection, name, month, _months_add(month, 1))
        created.append(name)
    return created


def _partition_create(cursor, connection, name: str, lo: datetime, hi: datetime) -> None:
    """Create the partition standalone, move its rows out of the default partition, attach.

    ATTACH locks the parent table in SHARE UPDATE EXCLUSIVE mode (ingestion and reads go on),
    where CREATE TABLE ... PARTITION OF would take ACCESS EXCLUSIVE. Both must lock the
    default partition (ACCESS EXCLUSIVE), to check it holds no row of the new range: taken
    first, so the rows moved are all there are and the lock is never upgraded."""
    quote = connection.ops.quote_name
    table, partition, default = quote(TABLE), quote(name), quote(DEFAULT_PARTITION)
    bounds = [lo.isoformat(), hi.isoformat()]
    in_range = '"timestamp" >= %s AND "timestamp" < %s'
    cursor.execute(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE")
    cursor.execute(f"CREATE TABLE {partition} (LIKE {table} INCLUDING DEFAULTS)")
    cursor.execute(
        f"INSERT INTO {partition} SELECT * FROM {default} WHERE {in_range}",  # noqa: S608
        bounds,
    )
    cursor.execute(f"DELETE FROM {default} WHERE {in_range}", bounds)  # noqa: S608
    # A CHECK matching the partition bounds spares ATTACH a scan of the new table.
    check = quote(f"{name}_bounds")
    cursor.execute(
        f'ALTER TABLE {partition} ADD CONSTRAINT {check} CHECK ("timestamp" IS NOT NULL '
        f"AND {in_range})",
        bounds,
    )
    cursor.execute(
        f"ALTER TABLE {table} ATTACH PARTITION {partition} FOR VALUES FROM (%s) TO (%s)",
        bounds,
    )
    cursor.execute(f"ALTER TABLE {partition} DROP CONSTRAINT {check}")


def usage_partitions_list(*, using: str = "default") -> list[dict[str, Any]]:
    """The partitions of the usage events table: name, from, to (None for the default
    partition or an unbounded side), default, and rows: the planner's estimate
    (`rows_exact` False), or a count for a partition never vacuumed nor analyzed. Ordered by
    range, the default partition last. Empty on databases other than PostgreSQL."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    partitions = _partitions(connection)
    with connection.cursor() as cursor:
        for partition in partitions:
            reltuples = partition.pop("reltuples")
            if reltuples < 0:
                name = connection.ops.quote_name(partition["name"])
                cursor.execute(f"SELECT count(*) FROM {name}")  # noqa: S608
                partition["rows"], partition["rows_exact"] = cursor.fetchone()[0], True
            else:
                partition["rows"], partition["rows_exact"] = int(reltuples), False
    return partitions


def _partitions(connection) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        rows = cursor.fetchall()
    partitions = []
    for name, bound, reltuples in rows:
        lo = hi = None
        match = _BOUND.search(bound)
        if match:
            lo, hi = _bound_value(match["lo"]), _bound_value(match["hi"])
        partitions.append(
            {
                "name": name,
                "from": lo,
                "to": hi,
                "default": bound == "DEFAULT",
                "reltuples": reltuples,
            }
        )
    first, last = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    partitions.sort(key=lambda p: (p["default"], p["from"] or first, p["to"] or last))
    return partitions


def _bound_value(text: str) -> datetime | None:
    text = text.strip()
    if text in ("MINVALUE", "MAXVALUE"):
        return None
    # Rendered in the session's time zone (UTC for Django's connections), e.g.
    # '2026-11-01 00:00:00+00'.
    return datetime.fromisoformat(text.strip("'")).astimezone(UTC)


# --- Retention --------------------------------------------------------------------------


def usage_events_count_by_month(*, before: datetime) -> dict[str, int]:
    """The raw events with a timestamp before `before`, counted by UTC month ("YYYY-MM"):
    what `usage_events_archive` would archive."""
    _require_month_start(before)
    rows = (
        UsageEvent.objects.filter(timestamp__lt=before)
        .order_by()
        .annotate(month=TruncMonth("timestamp", tzinfo=UTC))
        .values("month")
        .annotate(count=Count("id"))
        .order_by("month")
    )
    return {_month_label(row["month"]): row["count"] for row in rows}


def usage_events_archive(*, before: datetime, directory: Path, at: datetime) -> dict[str, Any]:
    """Write every raw usage event with a timestamp before `before` (the first instant of a
    UTC month) to `directory`, one gzip JSON-lines file per UTC month
    (`usage-events-YYYY-MM.jsonl.gz`; `.2`, `.3`... before `.jsonl.gz` if that file exists,
    for late events of a month archived before), fsync'd, then remove them from the database.

    Each month is one transaction: its file is complete on disk before its rows go. A failure
    before the commit removes the month's file; a failure of the commit itself keeps it (the
    rows may or may not be gone, so a later run may archive some again: dedupe on `id`)."""
    _require_month_start(before)
    _require_aware("at", at)
    if before > at:
        raise ValueError(
            f"`before` ({before.isoformat()}) is in the future: only the past is archived."
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    connection = connections[UsageEvent.objects.db]
    postgres = connection.vendor == "postgresql"
    months: dict[str, int] = {}
    files: list[str] = []
    dropped: list[str] = []
    for month in _archive_months(before=before, postgres=postgres):
        end = min(_months_add(month, 1), before)
        if postgres:
            count, path, gone = _archive_month_postgres(connection, month, end, directory)
            dropped += gone
        else:
            count, path = _archive_month_sqlite(month, end, directory)
        if count:
            months[_month_label(month)] = count
        if path is not None:
            files.append(str(path))
    return {
        "before": before.isoformat(),
        "at": at.isoformat(),
        "months": months,
        "rows": sum(months.values()),
        "files": files,
        "partitions_dropped": dropped,
    }


def _archive_months(*, before: datetime, postgres: bool) -> list[datetime]:
    """The months to look at: from the oldest row (or month partition) before `before`."""
    starts = []
    if postgres:
        for partition in _partitions(connections[UsageEvent.objects.db]):
            if partition["from"] is not None and partition["from"] < before:
                starts.append(_month_start(partition["from"]))
            elif partition["from"] is None:  # default or unbounded: look at the rows
                oldest = _oldest_in(partition["name"], before)
                if oldest is not None:
                    starts.append(_month_start(oldest))
    else:
        oldest = UsageEvent.objects.filter(timestamp__lt=before).aggregate(t=Min("timestamp"))
        if oldest["t"] is not None:
            starts.append(_month_start(oldest["t"]))
    if not starts:
        return []
    month, months = min(starts), []
    while month < before:
        months.append(month)
        month = _months_add(month, 1)
    return months


def _oldest_in(partition: str, before: datetime) -> datetime | None:
    connection = connections[UsageEvent.objects.db]
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT min("timestamp") FROM {connection.ops.quote_name(partition)} '  # noqa: S608
            'WHERE "timestamp" < %s',
            [before],
        )
        return cursor.fetchone()[0]


def _archive_month_postgres(
    connection, month: datetime, end: datetime, directory: Path
) -> tuple[int, Path | None, list[str]]:
    quote = connection.ops.quote_name
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        sources = _sources(month, end)
        # Writes to these partitions wait until this month is archived: what is removed
        # below is exactly what is written to the file.
        for partition in sources:
            cursor.execute(f"LOCK TABLE {quote(partition['name'])} IN SHARE MODE")
        rows = (
            _events(month, end)
            # The partition each row is read from (constant SQL, no parameters).
            .annotate(partition=RawSQL(f"{quote(TABLE)}.tableoid::regclass::text", []))  # noqa: S611
            .iterator(chunk_size=CHUNK_SIZE)
        )
        per_partition: dict[str, int] = defaultdict(int)

        def counted() -> Iterator[UsageEvent]:
            for event in rows:
                per_partition[event.partition] += 1
                yield event

        try:
            path = _file_write(directory, month, counted())
        finally:
            # Close the server-side cursor now, while the transaction can still run it (an
            # exception's traceback would keep the generator alive past the rollback).
            rows.close()
        try:
            dropped = []
            for partition in sources:
                name = partition["name"]
                whole = (
                    partition["from"] is not None
                    and partition["to"] is not None
                    and month <= partition["from"]
                    and partition["to"] <= end
                )
                if whole:
                    cursor.execute(f"SET LOCAL lock_timeout = '{DETACH_LOCK_TIMEOUT}'")
                    cursor.execute(f"ALTER TABLE {quote(TABLE)} DETACH PARTITION {quote(name)}")
                    cursor.execute(f"DROP TABLE {quote(name)}")
                    cursor.execute("SET LOCAL lock_timeout = DEFAULT")
                    dropped.append(name)
                    removed = per_partition.get(name, 0)
                else:
                    cursor.execute(
                        f'DELETE FROM {quote(name)} WHERE "timestamp" >= %s '  # noqa: S608
                        'AND "timestamp" < %s',
                        [month, end],
                    )
                    removed = cursor.rowcount
                if removed != per_partition.get(name, 0):
                    raise RuntimeError(
                        f"{name}: {removed} rows of {_month_label(month)} removed but "
                        f"{per_partition.get(name, 0)} archived; nothing was removed."
                    )
        except BaseException:
            if path is not None:
                path.unlink(missing_ok=True)
            raise
    return sum(per_partition.values()), path, dropped


def _sources(month: datetime, end: datetime) -> list[dict[str, Any]]:
    """The partitions that may hold rows of [month, end): those whose range overlaps it, and
    the default partition unless one partition covers it all. Ordered by name (lock order)."""
    partitions = _partitions(connections[UsageEvent.objects.db])
    ranged = [p for p in partitions if not p["default"]]
    overlapping = [
        p
        for p in ranged
        if (p["from"] is None or p["from"] < end) and (p["to"] is None or p["to"] > month)
    ]
    covered = any(
        (p["from"] is None or p["from"] <= month) and (p["to"] is None or p["to"] >= end)
        for p in overlapping
    )
    sources = overlapping + ([] if covered else [p for p in partitions if p["default"]])
    return sorted(sources, key=lambda p: p["name"])


def _archive_month_sqlite(
    month: datetime, end: datetime, directory: Path
) -> tuple[int, Path | None]:
    """SQLite: export in one read transaction, then delete in batches (short write
    transactions, so ingestion goes on). Ids are allocated in commit order (AUTOINCREMENT, one
    writer at a time), so a row of this month written after the export has a larger id than
    every exported row and is left for the next run."""
    with transaction.atomic():
        count = 0
        last_id = 0
        rows = _events(month, end).iterator(chunk_size=CHUNK_SIZE)

        def counted() -> Iterator[UsageEvent]:
            nonlocal count, last_id
            for event in rows:
                count += 1
                last_id = max(last_id, event.pk)
                yield event

        try:
            path = _file_write(directory, month, counted())
        finally:
            rows.close()
    removed = 0
    while removed < count:
        with transaction.atomic():
            batch = list(
                _events(month, end)
                .filter(id__lte=last_id)
                .values_list("id", flat=True)[:DELETE_BATCH]
            )
            if not batch:
                break
            removed += UsageEvent.objects.filter(id__in=batch).delete()[0]
    return count, path


def _events(month: datetime, end: datetime):
    return UsageEvent.objects.filter(timestamp__gte=month, timestamp__lt=end).order_by()


# --- Files ------------------------------------------------------------------------------


def _event_record(event: UsageEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "transaction_id": event.transaction_id,
        "subscription_id": event.subscription_id,
        "metric_id": event.metric_id,
        "aggregate_id": event.aggregate_id,
        "timestamp": event.timestamp.isoformat(),
        "value": None if event.value is None else str(event.value),
        "properties": event.properties,
        "received_at": event.received_at.isoformat(),
    }


def _file_write(directory: Path, month: datetime, events: Iterator[UsageEvent]) -> Path | None:
    """Write `events` to the month's next free file name; None (no file) if there are none.
    The file is written under a temporary name, fsync'd, renamed, and the directory fsync'd:
    once this returns, the file survives a crash."""
    temporary = directory / f".usage-events-{_month_label(month)}.{os.getpid()}.tmp"
    written = 0
    try:
        with open(temporary, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as compressed:
                for event in events:
                    line = json.dumps(_event_record(event), ensure_ascii=False) + "\n"
                    compressed.write(line.encode())
                    written += 1
            raw.flush()
            os.fsync(raw.fileno())
        if not written:
            temporary.unlink()
            return None
        path = _free_name(directory, month)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    return path


def _free_name(directory: Path, month: datetime) -> Path:
    label = _month_label(month)
    path, number = directory / f"usage-events-{label}.jsonl.gz", 1
    while path.exists():
        number += 1
        path = directory / f"usage-events-{label}.{number}.jsonl.gz"
    return path


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
