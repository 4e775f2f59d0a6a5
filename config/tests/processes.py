"""Run the project in its own processes with a clean environment (no DEBUG from the test
runner, no .env file): manage.py commands and a gunicorn server."""

import os
import secrets
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV_FILE = ROOT / "deploy" / "production.env.example"


def clean_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    """Only what a process needs to run, plus `variables`; no .env file is read."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),  # gunicorn's control socket goes under it
        "ENV_FILE": str(tmp_path / "no.env"),
        "PYTHONWARNINGS": "ignore:No directory at:UserWarning",  # no staticfiles/ here
        **variables,
    }


def new_secret_key() -> str:
    return secrets.token_urlsafe(50)


def production_env_file_variables() -> dict[str, str]:
    """The variables of deploy/production.env.example (KEY=value lines; # comments)."""
    variables = {}
    for line in PRODUCTION_ENV_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            variables[name.strip()] = value.strip()
    return variables


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(port: int, path: str, host: str = "127.0.0.1", timeout: float = 30, headers=()):
    """(status, headers as a lowercase dict, body bytes, seconds) of one GET on a new connection."""
    started = time.monotonic()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close", *headers, "", ""]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall("\r\n".join(lines).encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    if found.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return int(status_line.split()[1]), found, body, time.monotonic() - started


def dechunk(data: bytes) -> bytes:
    body = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        body, data = body + data[:size], data[size + 2 :]
    return body


@dataclass
class Server:
    port: int
    log: Path


@contextmanager
def gunicorn(tmp_path: Path, **variables: str):
    """gunicorn with config/gunicorn.py and DEBUG unset on a free port; yields a Server.

    Its SQLite database file is never created: the pages asked for need none."""
    port = free_port()
    defaults = {
        "SECRET_KEY": new_secret_key(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
    }
    env = clean_env(tmp_path, **{**defaults, **variables})
    log_path = tmp_path / "gunicorn.log"
    log = log_path.open("w")
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited ({process.returncode}):\n" + log_path.read_text()[-3000:]
                )
            try:
                http_get(port, "/up-probe/", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield Server(port, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
