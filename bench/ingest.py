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
import cProfile
import hashlib
import http.client
import io
import json
import multiprocessing
import os
import pstats
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
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

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from api.models import ApiKey  # noqa: E402
from api.services import api_key_create  # noqa: E402
from billing.models import Subscription  # noqa: E402
from billing.services.subscriptions import subscription_create  # noqa: E402
from billing.services.usage import MAX_BATCH, usage_events_ingest  # noqa: E402
from billing.services.usage_storage import usage_partitions_ensure  # noqa: E402
from catalog.models import BillableMetric, Plan  # noqa: E402
from catalog.services import metric_create, plan_create  # noqa: E402
from customers.models import Customer  # noqa: E402
from customers.services import customer_create  # noqa: E402

PREFIX = "bench-ingest-"
PLAN = "bench-ingest"
COUNT_METRIC = "bench_ingest_calls"  # count
SUM_METRIC = "bench_ingest_tokens"  # sum of the integer property "tokens"
USAGE_TABLES = [  # each with a subscription_id
    "billing_usagedistinctvalue",
    "billing_usageevent",
    "billing_usageeventkey",
    "billing_usageaggregate",
]
EVENT_COLUMNS = (
    "transaction_id, timestamp, value, properties, received_at, aggregate_id, metric_id, "
    "subscription_id"
)
BATCH_HEAD = re.compile(rb'\{"created":(\d+),"duplicates":(\d+),"rejected":(\d+),')
REGIONS = ["eu-west", "us-east", "ap-south", "sa-east"]
TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Data -------------------------------------------------------------------------------


def catalog() -> tuple[Plan, BillableMetric, BillableMetric]:
    count = BillableMetric.objects.filter(code=COUNT_METRIC).first() or metric_create(
        code=COUNT_METRIC, name="Bench calls", aggregation="count"
    )
    total = BillableMetric.objects.filter(code=SUM_METRIC).first() or metric_create(
        code=SUM_METRIC, name="Bench tokens", aggregation="sum", field="tokens"
    )
    plan = Plan.objects.filter(code=PLAN, is_latest=True).first() or plan_create(
        code=PLAN,
        name="Bench ingest",
        currency="USD",
        amount=Decimal("10.00"),
        charges=[
            {"metric": m, "model": "standard", "properties": {"unit_amount": "0.001"}}
            for m in (count, total)
        ],
    )
    return plan, count, total


def subscriptions(plan: Plan, n: int, now: datetime) -> tuple[list[int], int, int]:
    """(spread ids, hot id, warm-up id): started at midnight UTC three days ago, so the first
    monthly period holds now; external ids carry that day, so a run on the same day reuses
    them and a later day makes new ones."""
    start = (now - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    stem = f"{PREFIX}{start:%Y%m%d}-"
    names = [f"{stem}{i}" for i in range(n)] + [f"{stem}hot", f"{stem}warm"]
    found = dict(
        Subscription.objects.filter(external_id__in=names).values_list("external_id", "pk")
    )
    missing = [name for name in names if name not in found]
    for done, name in enumerate(missing, 1):
        customer = Customer.objects.filter(external_id=name).first() or customer_create(
            external_id=name, name=name, email=f"{name}@example.com", currency="USD"
        )
        sub = subscription_create(
            customer=customer, plan=plan, at=now, start_at=start, external_id=name
        )
        found[name] = sub.pk
        if done % 100 == 0 or done == len(missing):
            log(f"  created {done}/{len(missing)} subscriptions")
    ids = [found[name] for name in names]
    bad = Subscription.objects.filter(pk__in=ids).exclude(
        current_period_start__lte=now, current_period_end__gt=now + timedelta(hours=1)
    )
    if bad.exists():
        sys.exit(f"{bad.count()} bench subscriptions have no current period around now")
    return ids[:n], ids[n], ids[n + 1]


def usage_reset() -> None:
    """Empty the usage tables when they hold bench rows only (TRUNCATE), otherwise delete the
    bench subscriptions' rows."""
    bench = list(
        Subscription.objects.filter(external_id__startswith=PREFIX).values_list("pk", flat=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM billing_usageeventkey WHERE NOT subscription_id = "
            "ANY(%s)) OR EXISTS (SELECT 1 FROM billing_usageaggregate WHERE NOT "
            "subscription_id = ANY(%s))",
            [bench, bench],
        )
        if not cursor.fetchone()[0]:
            cursor.execute(f"TRUNCATE {', '.join(USAGE_TABLES)}")
            return
        log("  the usage tables hold other rows: deleting the bench rows only")
        for table in USAGE_TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE subscription_id = ANY(%s)", [bench])  # noqa: S608 - constant names
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE billing_usageevent")


def usage_counts(sub_ids: list[int], sum_metric_id: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM billing_usageevent WHERE subscription_id = ANY(%s)", [sub_ids]
        )
        events = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM billing_usageeventkey WHERE subscription_id = ANY(%s)",
            [sub_ids],
        )
        keys = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*), coalesce(sum(event_count), 0), "
            "coalesce(sum(value_sum) FILTER (WHERE metric_id = %s), 0) "
            "FROM billing_usageaggregate WHERE subscription_id = ANY(%s)",
            [sum_metric_id, sub_ids],
        )
        aggregates, counted, tokens = cursor.fetchone()
    return {
        "events": events,
        "keys": keys,
        "aggregates": aggregates,
        "counted": counted,
        "tokens": int(tokens),
    }


# --- Events -----------------------------------------------------------------------------


def event(g: int, rng: random.Random, sub: int, ts: str, run: str, phase: str) -> dict:
    """Event number `g`: half count events, half sum events (tokens 1..100)."""
    body = {"transaction_id": f"{run}-{phase}-{g}", "subscription": str(sub), "timestamp": ts}
    if rng.random() < 0.5:
        body["code"] = COUNT_METRIC
        body["properties"] = {"region": REGIONS[g % len(REGIONS)]}
    else:
        body["code"] = SUM_METRIC
        body["properties"] = {"tokens": 1 + g % 100, "region": REGIONS[g % len(REGIONS)]}
    return body


def timestamps(size: int) -> list[str]:
    """`size` ISO-8601 timestamps, now and one millisecond apart before it."""
    now = datetime.now(UTC)
    return [(now - timedelta(milliseconds=i)).isoformat() for i in range(size)]


def batch_events(
    b: int, size: int, total: int, subs: list[int], stamps: list[str], run: str, phase: str
) -> list[dict]:
    rng = random.Random(f"{run}-{phase}-{b}")
    first = b * size
    return [
        event(g, rng, subs[rng.randrange(len(subs))], stamps[g - first], run, phase)
        for g in range(first, min(first + size, total))
    ]


def expected(events: list[dict]) -> Counter:
    sent = Counter(events=len(events))
    for body in events:
        if body["code"] == SUM_METRIC:
            sent["sum_events"] += 1
            sent["tokens"] += body["properties"]["tokens"]
    return sent


# --- HTTP -------------------------------------------------------------------------------


def request(port: int, method: str, path: str, key: str, body: bytes | None = None):
    """One request on its own connection; (status, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        headers = {"Authorization": f"Bearer {key}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, workers: int):
        self.workers = workers
        self.port = free_port()
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--backlog",
            "2048",
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ]
        self.process: subprocess.Popen | None = None

    def start(self, key: str, probe: str) -> None:
        env = {
            **os.environ,
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "PYTHONWARNINGS": "ignore:No directory at:UserWarning",  # no staticfiles/ here
        }
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with code {self.process.returncode}")
            try:
                status, data = request(self.port, "GET", probe, key)
            except OSError:
                time.sleep(0.2)
                continue
            if status != 200:
                raise RuntimeError(f"GET {probe}: {status} {data[:300]!r}")
            return
        raise RuntimeError("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # graceful: workers finish their request
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- Clients ----------------------------------------------------------------------------


class Control:
    """A client's side of a phase: report ready, wait for go, count progress, report."""

    def __init__(self, ready, go, results, progress, index: int):
        self.ready, self.go, self.results = ready, go, results
        self.progress, self.index = progress, index

    def start(self) -> float:
        self.ready.put(1)
        self.go.wait()
        return time.process_time()

    def step(self, done: int) -> None:
        self.progress[self.index] = done


def batch_client(port: int, key: str, bodies: list[bytes], sent, ctl: Control) -> None:
    cpu = ctl.start()
    done = Counter()
    errors = []
    for n, body in enumerate(bodies, 1):
        try:
            status, data = request(port, "POST", "/api/v1/events/batch/", key, body)
        except (OSError, http.client.HTTPException) as exc:
            status, data = 0, repr(exc).encode()
        ctl.step(n * MAX_BATCH)
        head = BATCH_HEAD.match(data) if status == 200 else None
        if head is None:
            errors.append(f"{status} {data[:200]!r}")
            continue
        done["created"] += int(head[1])
        done["duplicates"] += int(head[2])
        done["rejected"] += int(head[3])
        if int(head[3]) and len(errors) < 5:
            errors.append(f"rejected: {data[:400]!r}")
    cpu = time.process_time() - cpu
    ctl.results.put({"done": dict(done), "sent": sent, "errors": errors, "cpu": cpu, "lat": []})


def call_client(port: int, key: str, calls: list, status: int, ctl: Control) -> None:
    """`calls`: (method, path, body) each; latencies in seconds."""
    cpu = ctl.start()
    latencies = []
    errors = []
    for method, path, body in calls:
        started = time.perf_counter()
        try:
            got, data = request(port, method, path, key, body)
        except (OSError, http.client.HTTPException) as exc:
            got, data = 0, repr(exc).encode()
        latencies.append(time.perf_counter() - started)
        ctl.step(len(latencies))
        if got != status:
            errors.append(f"{got} {data[:200]!r}")
    ctl.results.put(
        {"done": {}, "errors": errors[:5], "cpu": time.process_time() - cpu, "lat": latencies}
    )


def split(items: list, clients: int) -> list[list]:
    return [items[i::clients] for i in range(clients)]


# --- Measuring --------------------------------------------------------------------------


def _proc_ticks() -> dict[int, tuple[str, str, int, int]]:
    """Every process's (comm, cmdline, ppid, utime + stime ticks), by pid."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(name)] = (comm, cmdline, int(fields[1]), int(fields[11]) + int(fields[12]))
    return found


def _busy_ticks() -> int:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values[:8]) - idle


class CpuSplit(threading.Thread):
    """Core-seconds used during a phase, by gunicorn (master and workers), the PostgreSQL
    backends of this database, PostgreSQL's background processes (WAL writer, checkpointer,
    autovacuum...), this process, the clients (counted by themselves) and everything else.
    Processes are looked at every 0.5 s, so a backend that exits during the phase (Django
    reconnects after CONN_MAX_AGE) still counts, up to its last look."""

    def __init__(self, gunicorn_pid: int | None, dbname: str):
        super().__init__(daemon=True)
        self.gunicorn_pid, self.dbname = gunicorn_pid, dbname
        self.stopping = threading.Event()
        self.base: dict[int, int] = {}
        self.last: dict[int, tuple[str, int]] = {}

    def _classify(self, pid: int, comm: str, cmdline: str, ppid: int) -> str | None:
        if self.gunicorn_pid and (pid == self.gunicorn_pid or ppid == self.gunicorn_pid):
            return "gunicorn"
        if comm == "postgres" or cmdline.startswith("postgres"):
            if re.search(r"checkpointer|background writer|walwriter|autovacuum|launcher", cmdline):
                return "pg_bg"
            if f" {self.dbname} " in cmdline:
                return "pg_bench"
        return None

    def _look(self) -> None:
        for pid, (comm, cmdline, ppid, ticks) in _proc_ticks().items():
            kind = self._classify(pid, comm, cmdline, ppid)
            if kind:
                self.last[pid] = (kind, ticks)

    def start(self) -> None:
        self._look()
        self.base = {pid: ticks for pid, (_, ticks) in self.last.items()}
        self.started = time.perf_counter(), _busy_ticks(), os.times()
        super().start()

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            self._look()

    def stop(self, clients_cpu: float) -> dict[str, float]:
        self.stopping.set()
        self.join()
        self._look()
        t1, busy1, own1 = time.perf_counter(), _busy_ticks(), os.times()
        t0, busy0, own0 = self.started
        used = Counter()
        for pid, (kind, ticks) in self.last.items():
            used[kind] += (ticks - self.base.get(pid, 0)) / TICK
        used["clients"] = clients_cpu
        used["bench"] = (own1.user + own1.system) - (own0.user + own0.system)
        total = (busy1 - busy0) / TICK
        used["other"] = max(0.0, total - sum(used.values()))
        used["wall"] = t1 - t0
        used["total"] = total
        return dict(used)


def cpu_line(used: dict[str, float]) -> str:
    wall = used["wall"]
    parts = [
        f"{name} {used.get(name, 0):.1f}"
        for name in ("gunicorn", "pg_bench", "pg_bg", "clients", "bench", "other")
    ]
    capacity = wall * CORES
    return (
        f"cpu core-s   {', '.join(parts)}; busy {used['total']:.1f} of {capacity:.1f} "
        f"({100 * used['total'] / capacity:.0f}% of {CORES} cores over {wall:.1f} s)"
    )


def db_params() -> dict:
    db = settings.DATABASES["default"]
    params = {"dbname": db["NAME"], "user": db.get("USER") or None}
    for name, key in (("password", "PASSWORD"), ("host", "HOST"), ("port", "PORT")):
        if db.get(key):
            params[name] = str(db[key])
    return params


class WaitSampler(threading.Thread):
    """What the client backends of this database are doing, every 50 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples = Counter()
        self.stopping = threading.Event()

    def run(self) -> None:
        with psycopg.connect(**db_params(), autocommit=True) as conn:
            while not self.stopping.wait(0.05):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = current_database() AND backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid()"
                ).fetchall()
                for state, kind, name in rows:
                    if state == "active":
                        self.samples["running (cpu)" if kind is None else f"{kind}:{name}"] += 1
                    elif state == "idle in transaction":
                        self.samples["in transaction, waiting for Django"] += 1
                    else:
                        self.samples[str(state)] += 1

    def stop(self) -> str:
        self.stopping.set()
        self.join()
        busy = {k: v for k, v in self.samples.items() if k != "idle"}
        total = sum(self.samples.values()) or 1
        parts = [f"{k} {100 * v / total:.0f}%" for k, v in Counter(busy).most_common(6)]
        idle = 100 * self.samples.get("idle", 0) / total
        return f"db backends  {', '.join(parts)}, idle {idle:.0f}% (of backend samples)"


def run_phase(name: str, gunicorn: Gunicorn, target, per_client: list[tuple], total: int) -> dict:
    """Start a client process per argument tuple, let them prepare, then time them; logs
    progress (`total` units: events or requests) every 15 s."""
    context = multiprocessing.get_context("fork")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    progress = context.Array("q", len(per_client), lock=False)  # one slot per client
    connection.close()  # no database connection shared with the forks
    procs = [
        context.Process(
            target=target,
            args=(*args, Control(ready, go, results, progress, index)),
            daemon=True,
        )
        for index, args in enumerate(per_client)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        while True:
            try:
                ready.get(timeout=5)
                break
            except queue.Empty:
                if not all(proc.is_alive() for proc in procs):
                    raise RuntimeError(f"{name}: a client died while preparing") from None
    cpu = CpuSplit(gunicorn.process.pid, settings.DATABASES["default"]["NAME"])
    sampler = WaitSampler()
    sampler.start()
    cpu.start()
    started = time.perf_counter()
    go.set()
    collected = []
    while len(collected) < len(procs):
        try:
            collected.append(results.get(timeout=15))
        except queue.Empty:
            elapsed = time.perf_counter() - started
            done = sum(progress)
            log(f"  {name}: {done:,}/{total:,} in {elapsed:.0f} s ({done / elapsed:,.0f}/s)")
            if not any(proc.is_alive() for proc in procs):
                raise RuntimeError(f"{name}: the clients died") from None
    used = cpu.stop(sum(item["cpu"] for item in collected))
    waits = sampler.stop()
    for proc in procs:
        proc.join()
    done, sent, errors, latencies = Counter(), Counter(), [], []
    for item in collected:
        done.update(item["done"])
        sent.update(item.get("sent", {}))
        errors += item["errors"]
        latencies += item["lat"]
    if errors:
        log(f"  {name}: {len(errors)} errors, e.g. {errors[:3]}")
    return {
        "seconds": used["wall"],
        "done": done,
        "sent": sent,
        "errors": errors,
        "latencies": sorted(latencies),
        "cpu": cpu_line(used),
        "waits": waits,
    }


def code_version() -> str:
    """The commit measured, and a digest of how tracked files differ from it, if they do."""
    git = shutil.which("git")
    if git is None:
        return "unknown"

    def run(*args: str) -> str:
        return subprocess.run([git, *args], cwd=ROOT, capture_output=True, text=True).stdout

    head = run("rev-parse", "--short", "HEAD").strip() or "unknown"
    diff = run("diff", "HEAD")  # tracked files only
    if not diff:
        return head
    return f"{head} + uncommitted changes (diff {hashlib.sha256(diff.encode()).hexdigest()[:8]})"


def cpu_probe() -> float:
    """Seconds of CPU a fixed pure-Python loop takes: the same on an idle machine from run to
    run; higher when other work on the machine slows every process (shared caches, host)."""
    started = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i * i
    return time.process_time() - started


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


# --- Phases -----------------------------------------------------------------------------


def batch_phase(args, gunicorn, key, subs, run, phase) -> tuple[dict, Counter]:
    """`--events` (or hot events) through the batch API; bodies built in the clients."""
    total = args.events if phase == "spread" else args.hot_events
    batches = list(range((total + MAX_BATCH - 1) // MAX_BATCH))
    per_client = [(gunicorn.port, key, mine) for mine in split(batches, args.clients)]
    stamps = timestamps(MAX_BATCH)

    def prepare_and_send(port, key, mine, ctl):
        bodies, sent = [], Counter()
        for b in mine:
            events = batch_events(b, MAX_BATCH, total, subs, stamps, run, phase)
            sent.update(expected(events))
            bodies.append(json.dumps({"events": events}, separators=(",", ":")).encode())
        batch_client(port, key, bodies, sent, ctl)

    result = run_phase(phase, gunicorn, prepare_and_send, per_client, total)
    return result, result["sent"]


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


def single_phase(args, gunicorn, key, subs, run) -> tuple[dict, Counter]:
    stamps = timestamps(1)
    rng = random.Random(f"{run}-single")
    events = [
        event(g, rng, subs[rng.randrange(len(subs))], stamps[0], run, "single")
        for g in range(args.single)
    ]
    calls = [
        ("POST", "/api/v1/events/", json.dumps(e, separators=(",", ":")).encode()) for e in events
    ]
    per_client = [(gunicorn.port, key, mine, 201) for mine in split(calls, args.single_clients)]
    result = run_phase("single", gunicorn, call_client, per_client, len(calls))
    return result, expected(events)


def get_phase(args, gunicorn, key, hot: int) -> dict:
    calls = [("GET", f"/api/v1/subscriptions/{hot}/usage/", None)] * args.gets
    per_client = [(gunicorn.port, key, mine, 200) for mine in split(calls, args.get_clients)]
    return run_phase("get", gunicorn, call_client, per_client, len(calls))


def warm_up(gunicorn: Gunicorn, key: str, warm: int, run: str) -> None:
    """A few requests of each kind per worker (imports, URL resolver, connections)."""
    stamps = timestamps(MAX_BATCH)
    for i in range(4 * gunicorn.workers):
        events = batch_events(i, 100, 100 * (i + 1), [warm], stamps, run, "warm")
        status, data = request(
            gunicorn.port,
            "POST",
            "/api/v1/events/batch/",
            key,
            json.dumps({"events": events}).encode(),
        )
        assert status == 200, data[:300]
        one = event(i, random.Random(i), warm, stamps[0], run, "warm1")
        status, data = request(
            gunicorn.port, "POST", "/api/v1/events/", key, json.dumps(one).encode()
        )
        assert status == 201, data[:300]
        status, data = request(gunicorn.port, "GET", f"/api/v1/subscriptions/{warm}/usage/", key)
        assert status == 200, data[:300]


def verify(label: str, subs: list[int], sum_metric: int, sent: Counter, created: int) -> str:
    found = usage_counts(subs, sum_metric)
    ok = (
        found["events"] == found["keys"] == found["counted"] == sent["events"] == created
        and found["tokens"] == sent["tokens"]
    )
    line = (
        f"events {found['events']}, keys {found['keys']}, aggregates {found['aggregates']} "
        f"counting {found['counted']} (tokens {found['tokens']}); sent {sent['events']} "
        f"(tokens {sent['tokens']}), created {created}"
    )
    if not ok:
        log(f"  {label}: MISMATCH {line}")
    return ("OK     " if ok else "MISMATCH ") + line


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
