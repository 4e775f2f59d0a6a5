"""Fixtures of the outside-in contract suite: a live server, HTTP clients and API keys.

The only Python-level set-up allowed here is making API keys and starting a real django-q2
worker (`qcluster` in a subprocess, on this test database) for what happens in the
background; everything else is made through the API, over HTTP."""

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q.models import OrmQ

from api.services import api_key_create
from api.tests.contract.helpers import Api, wait_for

ROOT = Path(__file__).resolve().parents[3]


def _key(scopes: list[str]) -> str:
    return api_key_create(name="contract", scopes=scopes)[1]


@pytest.fixture
def base(live_server) -> str:
    return live_server.url


@pytest.fixture
def api(base) -> Api:
    """A client with a read+write key."""
    return Api(base, _key(["read", "write"]))


@pytest.fixture
def reader(base) -> Api:
    """A client whose key has only the `read` scope."""
    return Api(base, _key(["read"]))


@pytest.fixture
def anonymous(base) -> Api:
    return Api(base, None)


class Worker:
    """`manage.py qcluster` in its own process group, on this test database."""

    def __init__(self, log: Path):
        db = connection.settings_dict
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "Q_SYNC": "false"}
        if db["ENGINE"].endswith("sqlite3"):
            env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
            env["Q_WORKERS"] = "1"  # one SQLite writer at a time
        else:
            env["DATABASE_URL"] = (
                f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
                f"{db['NAME']}"
            )
            env["Q_WORKERS"] = "2"
        self.log = log
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


RUNNING: list[Worker] = []


@pytest.fixture(scope="package")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real django-q2 worker for this suite (started by the first test needing it, stopped
    after the suite's last test, so it never runs beside the rest of the test session)."""
    with django_db_blocker.unblock():
        started = Worker(tmp_path_factory.mktemp("qcluster") / "qcluster.log")
    RUNNING.append(started)
    yield started
    RUNNING.remove(started)
    started.stop()


def _worker_busy() -> bool:
    """A task is queued, or was taken in the last seconds (in flight: the ORM broker keeps
    the row, locked until now + `retry`, until the task is done)."""
    now = timezone.now()
    retry = timedelta(seconds=settings.Q_CLUSTER["retry"])
    recent = now + retry - timedelta(seconds=10)
    return (
        OrmQ.objects.filter(lock__lte=now).exists() or OrmQ.objects.filter(lock__gt=recent).exists()
    )


@pytest.fixture(autouse=True)
def worker_idle(request):
    """Once the worker runs, each test ends when it is idle: the database is flushed after
    each test, and a flush (TRUNCATE on PostgreSQL) beside a running task can deadlock."""
    request.getfixturevalue("transactional_db")  # flushed after this fixture's teardown
    yield
    if RUNNING:
        wait_for(lambda: not _worker_busy(), 30, "the worker to finish its tasks")
