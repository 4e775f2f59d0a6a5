"""bench/ingest.py's measuring: core-seconds by process kind, PostgreSQL backend states,
the code version, a CPU probe and percentiles."""

import hashlib
import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


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
