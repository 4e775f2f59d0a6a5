"""Raw usage event storage: month partitions (PostgreSQL) and the archive (both databases).

Partition tests run inside the test transaction (PostgreSQL's DDL is transactional, so it is
rolled back); the concurrent one commits, and drops what it created. Dates are far from now
so the partitions migration 0008 created for the current months never get in the way.
"""

import gzip
import importlib
import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.apps import apps as django_apps
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django_q.models import Schedule

from billing.models import UsageAggregate, UsageEvent, UsageEventKey
from billing.tasks import usage_partitions_scheduled
from billing.tests import factories
from billing.usage.storage import (
    usage_events_archive,
    usage_events_count_by_month,
    usage_partitions_ensure,
    usage_partitions_list,
)
from catalog.tests.factories import metric as metric_create

pytestmark = pytest.mark.django_db


def t(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def events(*rows) -> list[UsageEvent]:
    """UsageEvent rows from (id, timestamp[, value]) tuples (no FK constraints on the table)."""
    made = []
    for row in rows:
        pk, ts, value = (*row, None)[:3]
        made.append(
            UsageEvent(
                id=pk,
                transaction_id=f"tx-{pk}",
                subscription_id=7,
                metric_id=8,
                aggregate_id=9,
                timestamp=ts,
                value=value,
                properties={"region": "eu", "n": pk},
                received_at=t(2030, 1, 1, 12),
            )
        )
    return UsageEvent.objects.bulk_create(made)


def partition_of(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM billing_usageevent WHERE id = %s", [pk]
        )
        return cursor.fetchone()[0]


def names() -> set[str]:
    return {p["name"] for p in usage_partitions_list()}


def read(path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


@pytest.fixture
def kept_rows():
    """A dedup key and a real aggregate: the archive must leave both alone."""
    customer = factories.customer()
    subscription = factories.subscription(
        customer=customer, plan=factories.plan(), at=t(2018, 1, 1)
    )
    UsageEventKey.objects.create(
        transaction_id="tx-1", subscription_id=subscription.pk, timestamp=t(2018, 1, 5)
    )
    return UsageAggregate.objects.create(
        customer=customer,
        subscription=subscription,
        metric=metric_create(),
        period_start=t(2018, 1, 1),
        period_end=t(2018, 2, 1),
        due_at=t(2018, 2, 1),
        event_count=3,
        updated_at=t(2018, 2, 1),
    )


# --- Partitions (PostgreSQL) ----------------------------------------------------------


def test_partitions_created_once(postgres_only):
    with CaptureQueriesContext(connection) as queries:
        created = usage_partitions_ensure(at=t(2031, 5, 31, 23, 59))
    assert created == [f"billing_usageevent_p2031{m:02}" for m in (4, 5, 6, 7, 8)]
    sql = [q["sql"] for q in queries]
    lock = next(i for i, s in enumerate(sql) if "pg_advisory_xact_lock" in s)
    create = next(i for i, s in enumerate(sql) if s.startswith("CREATE TABLE"))
    assert lock < create
    assert usage_partitions_ensure(at=t(2031, 5, 1)) == []
    assert usage_partitions_ensure(at=t(2031, 6, 1), months_back=0, months_ahead=3) == [
        "billing_usageevent_p203109"
    ]

    listed = {p["name"]: p for p in usage_partitions_list()}
    june = listed["billing_usageevent_p203106"]
    assert (june["from"], june["to"], june["default"]) == (t(2031, 6, 1), t(2031, 7, 1), False)
    assert listed["billing_usageevent_default"]["default"]
    assert list(listed)[-1] == "billing_usageevent_default"

    events((1, t(2031, 6, 30, 23, 59, 59)), (2, t(2031, 7, 1)), (3, t(2031, 12, 1)))
    assert partition_of(1) == "billing_usageevent_p203106"
    assert partition_of(2) == "billing_usageevent_p203107"
    assert partition_of(3) == "billing_usageevent_default"


def test_rows_in_default_partition_moved(postgres_only):
    events(
        (11, t(2032, 3, 1), Decimal("1.5")),
        (12, t(2032, 3, 31, 23, 59, 59, 999999)),
        (13, t(2032, 4, 1)),
        (14, t(2032, 2, 29, 23, 0)),
    )
    assert {partition_of(pk) for pk in (11, 12, 13, 14)} == {"billing_usageevent_default"}

    created = usage_partitions_ensure(at=t(2032, 3, 15), months_back=0, months_ahead=0)

    assert created == ["billing_usageevent_p203203"]
    assert partition_of(11) == partition_of(12) == "billing_usageevent_p203203"
    assert partition_of(13) == partition_of(14) == "billing_usageevent_default"
    moved = UsageEvent.objects.get(pk=11)
    assert (moved.value, moved.properties) == (Decimal("1.5"), {"region": "eu", "n": 11})
    assert UsageEvent.objects.filter(timestamp__year=2032).count() == 4
    # The partition took the table's indexes and the id default.
    new = UsageEvent.objects.create(
        transaction_id="new",
        subscription_id=1,
        metric_id=1,
        aggregate_id=1,
        timestamp=t(2032, 3, 2),
        received_at=t(2032, 3, 2),
    )
    assert new.pk is not None
    assert partition_of(new.pk) == "billing_usageevent_p203203"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'billing_usageevent_p203203'"
        )
        assert cursor.fetchone()[0] == 2  # primary key, (subscription_id, timestamp)


@pytest.fixture
def partitions_dropped_after():
    """For tests that commit: drop the partitions they created."""
    before = names()
    yield
    with connection.cursor() as cursor:
        for name in names() - before:
            cursor.execute(f"DROP TABLE {connection.ops.quote_name(name)}")


# Skipped at collection on SQLite: a transactional test flushes the database even when skipped
# by a fixture, and the flush removes what migrations created (groups, schedules).
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_create_each_partition_once(postgres_only, partitions_dropped_after):
    events((21, t(2033, 1, 10)), (22, t(2033, 2, 10)))
    start = threading.Barrier(3)
    results, errors = [], []

    def run():
        try:
            start.wait()
            results.append(usage_partitions_ensure(at=t(2033, 2, 1)))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    created = sorted(name for result in results for name in result)
    assert created == [f"billing_usageevent_p2033{m:02}" for m in range(1, 6)]
    assert partition_of(21) == "billing_usageevent_p203301"
    assert partition_of(22) == "billing_usageevent_p203302"


def test_nothing_to_do_on_sqlite():
    if connection.vendor == "postgresql":
        pytest.skip("SQLite behaviour")
    assert usage_partitions_ensure(at=t(2031, 5, 1)) == []
    assert usage_partitions_list() == []
    assert usage_partitions_scheduled() == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="timezone-aware"):
        usage_partitions_ensure(at=datetime(2031, 5, 1))
    with pytest.raises(ValueError, match="negative"):
        usage_partitions_ensure(at=t(2031, 5, 1), months_back=-1)


# --- Archive --------------------------------------------------------------------------


def test_archive_writes_older_rows_and_removes_them(tmp_path, kept_rows):
    events(
        (1, t(2018, 1, 1), Decimal("2.500000000000")),
        (2, t(2018, 1, 31, 23, 59, 59, 999999)),
        (3, t(2018, 3, 10)),
        (4, t(2018, 4, 1)),  # kept: not before April
        (5, t(2018, 5, 2)),
    )

    result = usage_events_archive(before=t(2018, 4, 1), directory=tmp_path, at=t(2030, 1, 1))

    assert result["months"] == {"2018-01": 2, "2018-03": 1}
    assert result["rows"] == 3
    january = tmp_path / "usage-events-2018-01.jsonl.gz"
    march = tmp_path / "usage-events-2018-03.jsonl.gz"
    assert result["files"] == [str(january), str(march)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [january.name, march.name]
    assert sorted(read(january), key=lambda r: r["id"]) == [
        {
            "id": 1,
            "transaction_id": "tx-1",
            "subscription_id": 7,
            "metric_id": 8,
            "aggregate_id": 9,
            "timestamp": "2018-01-01T00:00:00+00:00",
            "value": "2.500000000000",
            "properties": {"region": "eu", "n": 1},
            "received_at": "2030-01-01T12:00:00+00:00",
        },
        {
            "id": 2,
            "transaction_id": "tx-2",
            "subscription_id": 7,
            "metric_id": 8,
            "aggregate_id": 9,
            "timestamp": "2018-01-31T23:59:59.999999+00:00",
            "value": None,
            "properties": {"region": "eu", "n": 2},
            "received_at": "2030-01-01T12:00:00+00:00",
        },
    ]
    assert [r["id"] for r in read(march)] == [3]
    assert sorted(UsageEvent.objects.values_list("id", flat=True)) == [4, 5]
    assert UsageEventKey.objects.filter(transaction_id="tx-1").exists()
    kept_rows.refresh_from_db()
    assert kept_rows.event_count == 3

    # Nothing left: no file. A late event of an archived month: a new file, no overwrite.
    again = usage_events_archive(before=t(2018, 4, 1), directory=tmp_path, at=t(2030, 1, 1))
    assert (again["months"], again["files"]) == ({}, [])
    events((6, t(2018, 1, 20)))
    late = usage_events_archive(before=t(2018, 4, 1), directory=tmp_path, at=t(2030, 1, 1))
    assert late["files"] == [str(tmp_path / "usage-events-2018-01.2.jsonl.gz")]
    assert [r["id"] for r in read(late["files"][0])] == [6]
    assert len(read(january)) == 2


def test_archive_streams_many_rows(tmp_path, monkeypatch):
    monkeypatch.setattr("billing.usage.storage.CHUNK_SIZE", 7)
    monkeypatch.setattr("billing.usage.storage.DELETE_BATCH", 10)
    events(*((pk, t(2017, 6, 1 + pk % 28, pk % 24)) for pk in range(1, 56)))
    events((100, t(2017, 7, 1)))

    result = usage_events_archive(before=t(2017, 7, 1), directory=tmp_path, at=t(2030, 1, 1))

    assert result["months"] == {"2017-06": 55}
    assert sorted(r["id"] for r in read(result["files"][0])) == list(range(1, 56))
    assert list(UsageEvent.objects.values_list("id", flat=True)) == [100]


def test_archive_drops_month_partitions(postgres_only, tmp_path, kept_rows):
    usage_partitions_ensure(at=t(2019, 11, 1), months_back=0, months_ahead=0)
    events(
        (1, t(2019, 11, 3)),
        (2, t(2019, 11, 30, 23)),
        (3, t(2019, 12, 24)),  # default partition
        (4, t(2020, 1, 2)),
        (5, t(2020, 2, 2)),
    )
    usage_partitions_ensure(at=t(2020, 1, 1), months_back=0, months_ahead=0)  # moves id 4
    usage_partitions_ensure(at=t(2019, 10, 1), months_back=0, months_ahead=0)  # empty
    assert partition_of(3) == partition_of(5) == "billing_usageevent_default"

    result = usage_events_archive(before=t(2020, 1, 1), directory=tmp_path, at=t(2030, 1, 1))

    assert result["months"] == {"2019-11": 2, "2019-12": 1}
    assert result["partitions_dropped"] == [
        "billing_usageevent_p201910",
        "billing_usageevent_p201911",
    ]
    assert not {"billing_usageevent_p201910", "billing_usageevent_p201911"} & names()
    assert "billing_usageevent_p202001" in names()
    assert sorted(r["id"] for r in read(tmp_path / "usage-events-2019-11.jsonl.gz")) == [1, 2]
    assert [r["id"] for r in read(tmp_path / "usage-events-2019-12.jsonl.gz")] == [3]
    assert sorted(UsageEvent.objects.values_list("id", flat=True)) == [4, 5]
    assert partition_of(4) == "billing_usageevent_p202001"
    assert UsageEventKey.objects.count() == 1
    assert UsageAggregate.objects.filter(pk=kept_rows.pk).exists()


def test_archive_failure_keeps_rows_and_no_file(tmp_path, monkeypatch):
    events((1, t(2016, 3, 1)), (2, t(2016, 4, 1)))

    def broken(event):
        if event.pk == 2:
            raise OSError("disk full")
        return {"id": event.pk}

    monkeypatch.setattr("billing.usage.storage._event_record", broken)
    with pytest.raises(OSError, match="disk full"):
        usage_events_archive(before=t(2016, 5, 1), directory=tmp_path, at=t(2030, 1, 1))

    # March was archived (its own transaction); April's rows and no file of April remain.
    assert [p.name for p in tmp_path.iterdir()] == ["usage-events-2016-03.jsonl.gz"]
    assert list(UsageEvent.objects.values_list("id", flat=True)) == [2]


@pytest.mark.parametrize(
    ("before", "message"),
    [
        (t(2018, 4, 15), "first instant of a UTC month"),
        (t(2018, 4, 1, 0, 0, 1), "first instant of a UTC month"),
        (datetime(2018, 4, 1), "timezone-aware"),
        (t(2031, 1, 1), "in the future"),
    ],
)
def test_archive_rejects_bad_before(tmp_path, before, message):
    with pytest.raises(ValueError, match=message):
        usage_events_archive(before=before, directory=tmp_path, at=t(2030, 1, 1))


def test_count_by_month():
    events((1, t(2018, 1, 1)), (2, t(2018, 1, 31, 23)), (3, t(2018, 3, 1)), (4, t(2018, 4, 1)))
    assert usage_events_count_by_month(before=t(2018, 4, 1)) == {"2018-01": 2, "2018-03": 1}


# --- Commands, task, schedule ---------------------------------------------------------


def test_archive_command(tmp_path):
    events((1, t(2018, 1, 1)), (2, t(2018, 2, 1)), (3, t(2018, 3, 1)))
    out = StringIO()
    call_command("usage_archive", "--before", "2018-03", "--dry-run", stdout=out)
    assert "2018-01: 1 events" in out.getvalue()
    assert "Dry run: 2 events" in out.getvalue()
    assert UsageEvent.objects.count() == 3

    out = StringIO()
    call_command("usage_archive", "--before", "2018-03", "--output", str(tmp_path), stdout=out)
    assert "Archived and removed 2 events" in out.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "usage-events-2018-01.jsonl.gz",
        "usage-events-2018-02.jsonl.gz",
    ]
    assert list(UsageEvent.objects.values_list("id", flat=True)) == [3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--before", "2018-13", "--dry-run"], "not a month as YYYY-MM"),
        (["--before", "2018-3", "--dry-run"], "not a month as YYYY-MM"),
        (["--before", "2018-03"], "--output DIR is required"),
        (["--before", "2999-01", "--output", "/tmp/never"], "in the future"),  # noqa: S108
    ],
)
def test_archive_command_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("usage_archive", *args)


def test_partitions_command():
    out = StringIO()
    call_command("usage_partitions", "--months-ahead", "4", stdout=out)
    if connection.vendor != "postgresql":
        assert "not partitioned" in out.getvalue()
        return
    assert "partition" in out.getvalue()
    out = StringIO()
    call_command("usage_partitions", "--list", stdout=out)
    listing = out.getvalue().splitlines()
    assert listing[-1].startswith("billing_usageevent_default  default")
    assert any(line.startswith("billing_usageevent_p") for line in listing)
    with pytest.raises(CommandError, match="0 or more"):
        call_command("usage_partitions", "--months-back", "-1")


def test_scheduled_task(postgres_only):
    assert usage_partitions_scheduled() >= 0
    now = datetime.now(tz=UTC)
    assert f"billing_usageevent_p{now:%Y%m}" in names()


def test_schedule_registered_by_migration():
    # Run the migration's function (a transactional test's flush may have removed the row).
    migration = importlib.import_module("billing.migrations.0008_usage_partitions")
    Schedule.objects.filter(name="billing: usage partitions").delete()
    migration.schedule_create(django_apps, None)
    migration.schedule_create(django_apps, None)
    schedule = Schedule.objects.get(name="billing: usage partitions")
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "billing.tasks.usage_partitions_scheduled",
        Schedule.DAILY,
        -1,
    )
