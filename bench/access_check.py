"""Access-check benchmark: in-process `access_check`, then `POST /api/v1/access/check` over HTTP.

    createdb -h 127.0.0.1 bench_access
    DATABASE_URL=postgres://root@127.0.0.1:5432/bench_access .venv/bin/python bench/access_check.py

PostgreSQL only. Migrates, then makes (or reuses) `--customers` customers on a plan with a
quota (count metric, limit far above the usage), an on/off feature and seats: a subscription,
active access, synced entitlements, usage, a service key `ck_live_bench-access-<n>` (hashed).

1. In-process: `--calls` checks of each kind (key + quota, customer + quota, key + on/off)
   on a warm cache, customers round-robin: p50/p99/max and the queries per check.
2. Over HTTP: gunicorn (`config.wsgi` with `config/gunicorn.py` unless `--no-config`,
   `--workers` workers of `--worker-class`, DEBUG off) on a free 127.0.0.1 port;
   `--clients` processes of `--threads` threads send
   `{"api_key", "feature", "quantity": 1}` at a fixed total `--rate` for `--seconds` (after a
   2-second warm-up), each request at its scheduled time, over http.client keep-alive (a sync
   worker closes each connection; gthread keeps it). Prints the achieved rate, latency from
   each send, how late sends were against the schedule (the clients' own lag), errors, and
   the CPU per request of gunicorn and of PostgreSQL.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_env import production_env  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
production_env()
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

PREFIX = "bench-access-"
PLAN = "bench-access"
METRIC = "bench_access_calls"
QUOTA, SSO, SEATS = "bench_access_quota", "bench_access_sso", "bench_access_seats"
USAGE_EVENTS = 50  # per customer, this period
TICK = os.sysconf("SC_CLK_TCK")
PATH = "/api/v1/access/check"  # --drf: "/api/v1/access/check/", the DRF view


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def raw_key(n: int) -> str:
    return f"ck_live_{PREFIX}{n}"


# --- Data ---------------------------------------------------------------------------------


def setup_data(customers: int, now: datetime) -> list[int]:
    """Customer ids 0..n-1 of this run's day, made when missing; their usage and keys."""
    from billing.invoicing.services.subscription_billing import subscription_create
    from billing.usage.services import usage_events_ingest
    from billing.usage.storage import usage_partitions_ensure
    from catalog.models import BillableMetric, Feature, Plan
    from catalog.services import feature_create, metric_create, plan_create
    from customers.models import Customer
    from customers.services import customer_create
    from provisioning.models import ServiceKey
    from provisioning.services.accounts import account_activate
    from provisioning.services.entitlements import entitlements_sync
    from provisioning.services.keys import service_key_hash

    usage_partitions_ensure(at=now)
    metric = BillableMetric.objects.filter(code=METRIC).first() or metric_create(
        code=METRIC, name="Bench access calls", aggregation="count"
    )
    features = {}
    for code, kind in ((QUOTA, "quota"), (SSO, "boolean"), (SEATS, "seats")):
        features[code] = Feature.objects.filter(code=code).first() or feature_create(
            code=code, name=code, kind=kind, metric=metric if kind == "quota" else None
        )
    values = {QUOTA: 10**12, SSO: True, SEATS: 10}
    grants = [{"feature": features[code], "value": value} for code, value in values.items()]
    plan = Plan.objects.filter(code=PLAN, is_latest=True).first() or plan_create(
        code=PLAN, name="Bench access", currency="USD", entitlements=grants
    )
    start = (now - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    stem = f"{PREFIX}{start:%Y%m%d}-"
    ids = []
    for n in range(customers):
        name = f"{stem}{n}"
        customer = Customer.objects.filter(external_id=name).first()
        if customer is None:
            customer = customer_create(
                external_id=name, name=name, email=f"{name}@example.com", currency="USD"
            )
            sub = subscription_create(
                customer=customer, plan=plan, at=now, start_at=start, external_id=name
            )
            account_activate(customer=customer, at=now)
            entitlements_sync(customer=customer, at=now)
            event = {"subscription": str(sub.pk), "code": METRIC, "timestamp": now.isoformat()}
            events = [{**event, "transaction_id": f"{name}-{i}"} for i in range(USAGE_EVENTS)]
            usage_events_ingest(events=events, at=now)
            if (n + 1) % 50 == 0:
                log(f"  created {n + 1}/{customers} customers")
        ServiceKey.objects.filter(customer=customer).delete()
        digest = service_key_hash(raw_key(n))
        ServiceKey.objects.create(customer=customer, name="b", hashed_key=digest, created_at=now)
        ids.append(customer.pk)
    with connection.cursor() as cursor:  # as autovacuum would have, on tables this small
        cursor.execute("ANALYZE")
    return ids


# --- In-process -------------------------------------------------------------------------


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1000:.3f} ms  p99 {p99 * 1000:.3f} ms  max {ordered[-1] * 1000:.2f} ms"


def in_process(ids: list[int], calls: int) -> None:
    from provisioning.services.access import access_check

    kinds = {
        "key + quota": lambda n, at: access_check(feature_code=QUOTA, api_key=raw_key(n), at=at),
        "customer + quota": lambda n, at: access_check(feature_code=QUOTA, customer=ids[n], at=at),
        "key + on/off": lambda n, at: access_check(feature_code=SSO, api_key=raw_key(n), at=at),
    }
    for label, call in kinds.items():
        for n in range(len(ids)):  # warm: every customer's grants cached
            assert call(n, datetime.now(UTC)).allowed, label
        with CaptureQueriesContext(connection) as queries:
            call(0, datetime.now(UTC))
        times = []
        at = datetime.now(UTC)
        for i in range(calls):
            started = time.perf_counter()
            result = call(i % len(ids), at)
            times.append(time.perf_counter() - started)
            if not result.allowed:
                raise RuntimeError(f"{label}: denied ({result.reason})")
        print(f"in-process {label:17} {calls} calls  {percentiles(times)}  ", end="")
        print(f"{len(queries)} queries/check", flush=True)


# --- HTTP ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(conn: http.client.HTTPConnection, body: bytes, token: str) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request("POST", PATH, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.will_close:
        conn.close()
    return response.status, data


def client_process(port, token, bodies, start_at, interval, offset, step, count, threads, out):
    """Requests offset, offset+step, … of the schedule (request i at start_at + i*interval),
    spread over `threads` threads; puts (latencies, lateness, errors) on `out`."""
    lock = threading.Lock()
    latencies, lateness, errors = [], [], []

    def worker(t: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine_lat, mine_late, mine_err = [], [], []
        for k in range(t, count, threads):
            i = offset + k * step
            due = start_at + i * interval
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            sent = time.perf_counter()
            try:
                status, data = post(conn, bodies[i % len(bodies)], token)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                status, data = 0, repr(exc).encode()
            done = time.perf_counter()
            mine_lat.append(done - sent)
            mine_late.append(max(sent - due, 0))
            if status != 200 or b'"allowed":true' not in data:
                mine_err.append(f"{status} {data[:120]!r}")
        with lock:
            latencies.extend(mine_lat)
            lateness.extend(mine_late)
            errors.extend(mine_err)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out.put((latencies, lateness, errors[:5], len(errors)))


def _stat(pid) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def cpu_ticks(pids: set[int]) -> int:
    return sum(int(f[11]) + int(f[12]) for f in map(_stat, pids) if f)


def children(pid: int) -> set[int]:
    names = [int(n) for n in os.listdir("/proc") if n.isdigit()]
    return {pid} | {n for n in names if (f := _stat(n)) and int(f[1]) == pid}


def postgres_backends() -> set[int]:
    dbname = settings.DATABASES["default"]["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [dbname])
        return {row[0] for row in cursor.fetchall()}


def run_phase(args, port, token, bodies, seconds: float, ctx) -> tuple:
    total = int(args.rate * seconds)
    interval = 1 / args.rate
    out = ctx.Queue()
    start_at = time.perf_counter() + 1.0  # perf_counter is system-wide (CLOCK_MONOTONIC)
    per = [len(range(c, total, args.clients)) for c in range(args.clients)]
    procs = [
        ctx.Process(
            target=client_process,
            args=(port, token, bodies, start_at, interval, c, args.clients, per[c])
            + (args.threads, out),
        )
        for c in range(args.clients)
    ]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    ended = time.perf_counter()
    for proc in procs:
        proc.join()
    latencies, lateness, errors = ([x for r in results for x in r[i]] for i in range(3))
    return total, ended - start_at, latencies, lateness, errors, sum(r[3] for r in results)


def wait_ready(server: subprocess.Popen, port: int, token: str, body: bytes) -> None:
    for _ in range(300):
        try:
            status, data = post(http.client.HTTPConnection("127.0.0.1", port), body, token)
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.2)
            continue
        if status == 200:
            return
        raise RuntimeError(f"{status} {data[:300]!r}")
    raise RuntimeError("gunicorn did not answer")


def over_http(args, ids: list[int]) -> None:
    from api.models import ApiKey
    from api.services import api_key_create

    ApiKey.objects.filter(name=PLAN).delete()
    _, token = api_key_create(name=PLAN, scopes=["read"])
    bodies = [
        json.dumps({"api_key": raw_key(n), "feature": QUOTA, "quantity": 1}).encode()
        for n in range(len(ids))
    ]
    app = "config.wsgi"
    port = free_port()
    command = [str(ROOT / ".venv/bin/gunicorn"), app, "-b", f"127.0.0.1:{port}"]
    if not args.no_config:
        command += ["-c", str(ROOT / "config/gunicorn.py")]
    command += f"-w {args.workers} -k {args.worker_class} --threads {args.worker_threads}".split()
    command += ["--log-level", "warning"]
    env = {**os.environ, "DEBUG": "false", "PYTHONWARNINGS": "ignore:No directory at:UserWarning"}
    log(f"starting {' '.join(command[1:])}")
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        wait_ready(server, port, token, bodies[0])
        ctx = multiprocessing.get_context("fork")
        run_phase(args, port, token, bodies, 2.0, ctx)  # warm-up: every worker's caches
        gunicorn_pids, pg_pids = children(server.pid), postgres_backends()
        before = (cpu_ticks(gunicorn_pids), cpu_ticks(pg_pids))
        total, elapsed, latencies, lateness, errors, error_count = run_phase(
            args, port, token, bodies, args.seconds, ctx
        )
        gunicorn_cpu = (cpu_ticks(gunicorn_pids) - before[0]) / TICK
        pg_cpu = (cpu_ticks(postgres_backends() | pg_pids) - before[1]) / TICK
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    print(
        f"HTTP {PATH}: {args.workers} gunicorn {args.worker_class} workers ×{args.worker_threads}, "
        f"{args.clients}×{args.threads} clients: "
        f"target {args.rate}/s for {args.seconds:.0f} s, achieved "
        f"{len(latencies) / elapsed:.0f}/s ({len(latencies)} requests in {elapsed:.1f} s)",
        flush=True,
    )
    print(
        f"HTTP latency  {percentiles(latencies)}  mean {statistics.fmean(latencies) * 1e3:.3f} ms"
    )
    print(f"HTTP send lateness vs schedule  {percentiles(lateness)}")
    print(f"HTTP errors {error_count} {errors}")
    print(f"CPU per request: gunicorn {gunicorn_cpu / total * 1e3:.2f} ms, PostgreSQL ", end="")
    print(f"{pg_cpu / total * 1e3:.2f} ms (of {os.cpu_count()} cores)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--calls", type=int, default=20_000, help="in-process calls per kind")
    parser.add_argument("--rate", type=int, default=500, help="HTTP requests per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", help="sync (one request a connection)")
    parser.add_argument("--worker-threads", type=int, default=1, help="threads (gthread)")
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per client process")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--drf", action="store_true", help="call the DRF view (…/check/), not the fast view"
    )
    parser.add_argument(
        "--no-config", action="store_true", help="gunicorn's defaults, not config/gunicorn.py"
    )
    args = parser.parse_args()
    if args.drf:
        global PATH
        PATH = "/api/v1/access/check/"
    if connection.vendor != "postgresql":
        sys.exit("PostgreSQL only: set DATABASE_URL=postgres://...")
    log("migrating")
    call_command("migrate", verbosity=0)
    now = datetime.now(UTC)
    log("setting up data")
    ids = setup_data(args.customers, now)
    version = connection.cursor().connection.info.server_version
    print(f"{len(ids)} customers, {os.cpu_count()} cores, PostgreSQL {version}", flush=True)
    in_process(ids, args.calls)
    if not args.skip_http:
        over_http(args, ids)


if __name__ == "__main__":
    main()
