"""bench/ingest.py's load over HTTP: gunicorn, the client processes, and the phases they run
(batch, single event, usage reads, warm-up). Imported after django.setup()."""

import http.client
import json
import multiprocessing
import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

from django.conf import settings
from django.db import connection
from ingest_data import batch_events, event, expected, log, timestamps
from ingest_measure import ROOT, CpuSplit, WaitSampler, cpu_line

from billing.usage.services import MAX_BATCH

BATCH_HEAD = re.compile(rb'\{"created":(\d+),"duplicates":(\d+),"rejected":(\d+),')


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
