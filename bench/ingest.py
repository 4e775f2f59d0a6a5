"""Usage-event ingestion benchmark over real HTTP: batch API, raw COPY, single events, usage reads.

    createdb -h 127.0.0.1 bench_ingest
    DATABASE_URL=postgres://root@127.0.0.1:5432/bench_ingest .venv/bin/python bench/ingest.py

Uses the configured database (PostgreSQL only); it migrates, creates (or reuses, the same day)
`--subs` spread subscriptions plus a hot one and a warm-up one on a plan charging a count
metric and a sum metric, empties the usage tables of earlier bench rows, then starts gunicorn
(sync workers, DEBUG off) on a free 127.0.0.1 port and measures, with client processes that
send pre-serialized bodies (one connection per request: sync workers do not keep alive):

1. `POST /api/v1/events/batch/`: `--events` events in batches of 1,000 spread over the
   subscriptions and both metrics; then checks the events, keys and aggregates hold them all.
2. A raw `COPY` of as many rows of the same shape into `billing_usageevent`, rolled back.
3. The batch API again, every event for the one hot subscription (`--hot-events`).
4. `POST /api/v1/events/`: `--single` requests, one event each.
5. `GET /api/v1/subscriptions/{hot}/usage/`: `--gets` requests.

Each phase prints its rate, latencies where they matter, where the CPU went (core-seconds of
gunicorn, the benchmark's PostgreSQL backends, PostgreSQL's background processes, the
clients, everything else on the machine) and what the database backends were doing
(pg_stat_activity sampled every 50 ms). `--profile` adds, in this process, the median time
of each kind of call and a cProfile of one 1,000-event `usage_events_ingest` call, one batch
request and 200 single-event requests through Django's test client.

About 5 minutes on 2 cores from an empty database (migrating and creating the 1,002
subscriptions take about a minute; later runs the same day reuse them). Results depend on
what else the machine runs: a run whose `other` core-seconds or CPU probe are high measured
the neighbours too. Default `--workers 2`: with 2 cores, 3 and 4 measured the same or worse.
"""

import argparse
import json
import os
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_env import production_env  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
production_env()
os.environ.setdefault("DEBUG", "false")  # no query log in this process either
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from ingest_data import (  # noqa: E402
    COUNT_METRIC,
    PLAN,
    SUM_METRIC,
    catalog,
    log,
    subscriptions,
    usage_counts,
    usage_reset,
    verify,
)
from ingest_inproc import copy_phase, profile  # noqa: E402
from ingest_load import (  # noqa: E402
    Gunicorn,
    batch_phase,
    get_phase,
    request,
    single_phase,
    warm_up,
)
from ingest_measure import CORES, code_version, cpu_probe, percentile  # noqa: E402

from api.models import ApiKey  # noqa: E402
from api.services import api_key_create  # noqa: E402
from billing.usage.services import MAX_BATCH  # noqa: E402
from billing.usage.storage import usage_partitions_ensure  # noqa: E402

# --- Main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="batch API events")
    parser.add_argument("--subs", type=int, default=1000, help="subscriptions to spread over")
    parser.add_argument("--hot-events", type=int, default=None, help="default: --events")
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn sync workers (2 measured best of 2/3/4)"
    )
    parser.add_argument("--clients", type=int, help="batch client processes (workers + 1)")
    parser.add_argument("--single", type=int, default=10_000, help="single-event requests")
    parser.add_argument("--single-clients", type=int, help="default: workers + 1")
    parser.add_argument("--gets", type=int, default=2000, help="GET usage requests")
    parser.add_argument("--get-clients", type=int, default=2)
    parser.add_argument("--skip", default="", help="phases to skip: copy,hot,single,get")
    parser.add_argument("--profile", action="store_true", help="cProfile one batch at the end")
    args = parser.parse_args()
    if args.hot_events is None:
        args.hot_events = args.events
    if args.clients is None:
        args.clients = args.workers + 1
    if args.single_clients is None:
        args.single_clients = args.workers + 1
    skip = set(filter(None, args.skip.split(",")))
    if connection.vendor != "postgresql":
        sys.exit("PostgreSQL only: set DATABASE_URL=postgres://...")
    started = time.perf_counter()
    log("migrating")
    call_command("migrate", verbosity=0)
    now = datetime.now(UTC)
    usage_partitions_ensure(at=now)
    log("setting up data")
    plan, count_metric, sum_metric = catalog()
    subs, hot, warm = subscriptions(plan, args.subs, now)
    usage_reset()
    ApiKey.objects.filter(name=PLAN).delete()
    _, key = api_key_create(name=PLAN, scopes=["read", "write"])
    metrics = {COUNT_METRIC: count_metric.pk, SUM_METRIC: sum_metric.pk}
    run = f"r{int(time.time())}"
    log(f"setup took {time.perf_counter() - started:.0f} s")

    probe = cpu_probe()
    load = Path("/proc/loadavg").read_text().split()[:3]
    gunicorn = Gunicorn(args.workers)
    command = " ".join(["DATABASE_URL=...", Path(sys.executable).name, *sys.argv])
    print(f"command      {command}")
    print(
        f"config       gunicorn sync workers {args.workers}, batch clients {args.clients}, "
        f"events {args.events:,} in batches of {MAX_BATCH} over {args.subs} subscriptions "
        f"and 2 metrics, hot events {args.hot_events:,}, single {args.single:,} "
        f"({args.single_clients} clients), gets {args.gets:,} ({args.get_clients} clients), "
        f"{CORES} cores, database {settings.DATABASES['default']['NAME']}"
    )
    print(f"server       {' '.join(gunicorn.command[1:])}")
    version = code_version()
    print(f"code         {version}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # stop gunicorn too
    hot_sent = Counter()
    try:
        gunicorn.start(key, f"/api/v1/subscriptions/{warm}/usage/")
        warm_up(gunicorn, key, warm, run)

        log(f"batch API: {args.events:,} events over {args.subs} subscriptions")
        result, sent = batch_phase(args, gunicorn, key, subs, run, "spread")
        rate = sent["events"] / result["seconds"]
        print(
            f"\nbatch API    {sent['events']:,} events in {result['seconds']:.1f} s = "
            f"{rate:,.0f} events/s  [target >= 20,000/s: {'met' if rate >= 20000 else 'MISSED'}]"
        )
        print(f"  {result['cpu']}\n  {result['waits']}")
        check = verify("batch", subs, sum_metric.pk, sent, result["done"]["created"])
        print(f"  check      {check}", flush=True)

        if "copy" not in skip:
            log(f"COPY: {args.events:,} rows")
            copied = copy_phase(args, subs, metrics, run)
            copy_rate = copied["rows"] / copied["seconds"]
            print(
                f"\nCOPY         {copied['rows']:,} rows in {copied['seconds']:.1f} s = "
                f"{copy_rate:,.0f} rows/s (rolled back); batch API / COPY = "
                f"{rate / copy_rate:.2f}"
            )
            print(f"  {copied['cpu']}", flush=True)

        if "hot" not in skip:
            log(f"hot batch API: {args.hot_events:,} events for one subscription")
            result, sent = batch_phase(args, gunicorn, key, [hot], run, "hot")
            hot_sent = sent
            hot_rate = sent["events"] / result["seconds"]
            print(
                f"\nhot batch    {sent['events']:,} events for 1 subscription in "
                f"{result['seconds']:.1f} s = {hot_rate:,.0f} events/s"
            )
            print(f"  {result['cpu']}\n  {result['waits']}")
            check = verify("hot", [hot], sum_metric.pk, sent, result["done"]["created"])
            print(f"  check      {check}", flush=True)

        if "single" not in skip:
            log(f"single-event API: {args.single:,} requests")
            before = usage_counts(subs, sum_metric.pk)
            result, sent = single_phase(args, gunicorn, key, subs, run)
            after = usage_counts(subs, sum_metric.pk)
            lat = result["latencies"]
            single_rate = len(lat) / result["seconds"]
            print(
                f"\nsingle API   {len(lat):,} requests in {result['seconds']:.1f} s = "
                f"{single_rate:,.0f} requests/s  [target >= 1,000/s: "
                f"{'met' if single_rate >= 1000 else 'MISSED'}]; latency p50 "
                f"{percentile(lat, 50) * 1000:.1f} ms, p99 {percentile(lat, 99) * 1000:.1f} ms"
            )
            print(f"  {result['cpu']}\n  {result['waits']}")
            stored = after["events"] - before["events"]
            ok = stored == sent["events"] and not result["errors"]
            print(
                f"  check      {'OK' if ok else 'MISMATCH'}  {stored:,} events stored, "
                f"{len(result['errors'])} errors",
                flush=True,
            )

        if "get" not in skip:
            held = usage_counts([hot], sum_metric.pk)["counted"]
            log(f"GET usage: {args.gets:,} requests, the hot period holding {held:,} events")
            result = get_phase(args, gunicorn, key, hot)
            lat = result["latencies"]
            p99 = percentile(lat, 99) * 1000
            status, data = request(gunicorn.port, "GET", f"/api/v1/subscriptions/{hot}/usage/", key)
            values = (
                {m["metric"]: m["value"] for m in json.loads(data)["metrics"]}
                if status == 200
                else {}
            )
            print(
                f"\nGET usage    {len(lat):,} requests in {result['seconds']:.1f} s = "
                f"{len(lat) / result['seconds']:,.0f}/s; latency p50 "
                f"{percentile(lat, 50) * 1000:.1f} ms, p99 {p99:.1f} ms  "
                f"[target p99 <= 20 ms: {'met' if p99 <= 20 else 'MISSED'}]"
            )
            print(f"  {result['cpu']}\n  {result['waits']}")
            want = {
                COUNT_METRIC: str(hot_sent["events"] - hot_sent["sum_events"]),
                SUM_METRIC: str(hot_sent["tokens"]),
            }
            ok = (values == want or not hot_sent) and not result["errors"]
            print(
                f"  check      {'OK' if ok else 'MISMATCH'}  the hot period holds {held:,} "
                f"events; usage {values} (sent {want}); {len(result['errors'])} errors",
                flush=True,
            )
    finally:
        gunicorn.stop()
    if args.profile:
        profile(subs, key, run)
    print(
        f"\nmachine      load average {' '.join(load)} before the run; CPU probe "
        f"{probe:.2f} s before, {cpu_probe():.2f} s after (more = slowed by other work)"
    )
    if code_version() != version:
        print(f"WARNING      the code changed during the run (now {code_version()})")
    print(f"total        {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
