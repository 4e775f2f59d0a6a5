"""bench/ingest.py's phases run in this process, without HTTP: the raw COPY and --profile.
Imported after django.setup()."""

import cProfile
import io
import json
import pstats
import random
import re
import time
from datetime import UTC, datetime

import psycopg
from django.conf import settings
from django.db import connection
from ingest_data import batch_events, event, timestamps
from ingest_measure import CpuSplit, cpu_line, db_params

from billing.usage.services import MAX_BATCH, usage_events_ingest

EVENT_COLUMNS = (
    "transaction_id, timestamp, value, properties, received_at, aggregate_id, metric_id, "
    "subscription_id"
)


def copy_phase(args, subs: list[int], metrics: dict[str, int], run: str) -> dict:
    """COPY `--events` rows shaped like the batch API's into billing_usageevent, rolled back."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT subscription_id, metric_id, id FROM billing_usageaggregate "
            "WHERE subscription_id = ANY(%s)",
            [subs],
        )
        aggregates = {(s, m): a for s, m, a in cursor.fetchall()}
    stamps = timestamps(MAX_BATCH)
    received = datetime.now(UTC).isoformat()
    chunks, lines = [], []
    for b in range((args.events + MAX_BATCH - 1) // MAX_BATCH):
        for body in batch_events(b, MAX_BATCH, args.events, subs, stamps, run, "copy"):
            sub, metric = int(body["subscription"]), metrics[body["code"]]
            props = body["properties"]
            value = str(props["tokens"]) if "tokens" in props else "\\N"
            lines.append(
                f"{body['transaction_id']}\t{body['timestamp']}\t{value}\t"
                f"{json.dumps(props, separators=(',', ':'))}\t{received}\t"
                f"{aggregates.get((sub, metric), 0)}\t{metric}\t{sub}\n"
            )
        if len(lines) >= 10 * MAX_BATCH:
            chunks.append("".join(lines).encode())
            lines = []
    if lines:
        chunks.append("".join(lines).encode())
    connection.close()
    cpu = CpuSplit(None, settings.DATABASES["default"]["NAME"])
    with psycopg.connect(**db_params()) as conn:
        cpu.start()
        with conn.cursor() as cursor:
            with cursor.copy(f"COPY billing_usageevent ({EVENT_COLUMNS}) FROM STDIN") as copy:
                for chunk in chunks:
                    copy.write(chunk)
            used = cpu.stop(0.0)
            cursor.execute(
                "SELECT count(*) FROM billing_usageevent WHERE transaction_id LIKE %s",
                [f"{run}-copy-%"],
            )
            copied = cursor.fetchone()[0]
        conn.rollback()
    with psycopg.connect(**db_params(), autocommit=True) as conn:
        conn.execute("VACUUM billing_usageevent")  # the rolled-back rows
    return {"seconds": used["wall"], "rows": copied, "cpu": cpu_line(used)}


def profile(subs: list[int], key: str, run: str) -> None:
    """Server-side cost in this process (no HTTP, no concurrency): medians of unprofiled
    calls, then a cProfile of one 1,000-event service call, one batch request through
    Django's test client, and 200 single-event requests."""
    import warnings

    from django.test import Client
    from django.utils import timezone

    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    stamps = timestamps(MAX_BATCH)
    counter = iter(range(10**9))

    def service() -> None:
        events = batch_events(next(counter), MAX_BATCH, 10**12, subs, stamps, run, "prof")
        results = usage_events_ingest(events=events, at=timezone.now())
        assert all(r.status == "created" for r in results)

    def batch() -> None:
        events = batch_events(next(counter), MAX_BATCH, 10**12, subs, stamps, run, "prof")
        body = json.dumps({"events": events})
        response = client.post("/api/v1/events/batch/", body, content_type="application/json")
        assert response.status_code == 200, response.content[:300]

    def single() -> None:
        g = next(counter)
        one = event(g, random.Random(g), subs[g % len(subs)], stamps[0], run, "prof1")
        response = client.post("/api/v1/events/", json.dumps(one), content_type="application/json")
        assert response.status_code == 201, response.content[:300]

    def usage() -> None:
        response = client.get(f"/api/v1/subscriptions/{subs[0]}/usage/")
        assert response.status_code == 200, response.content[:300]

    print("\nin-process  median of unprofiled calls (DEBUG off, no HTTP, one at a time)")
    for label, call, times in (
        ("usage_events_ingest, 1,000 events", service, 7),
        ("POST /events/batch/, 1,000 events", batch, 7),
        ("POST /events/", single, 201),
        ("GET /subscriptions/{id}/usage/", usage, 201),
    ):
        call()  # warm
        took, cpu = [], []
        for _ in range(times):
            started, cpu_started = time.perf_counter(), time.process_time()
            call()
            took.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        wall, python = sorted(took)[times // 2], sorted(cpu)[times // 2]
        print(f"  {label:<36} {wall * 1000:7.1f} ms, of which Python CPU {python * 1000:6.1f} ms")
    for label, call, times in (
        ("usage_events_ingest, 1,000 events", service, 1),
        ("POST /events/batch/, 1,000 events", batch, 1),
        ("POST /events/ x 200", single, 200),
    ):
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(times):
            call()
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(15)
        print(f"\n--- cProfile: {label} ---")
        print(re.sub(r"\n\s*\n+", "\n", out.getvalue()))
