"""gunicorn settings for production: `gunicorn -c config/gunicorn.py config.wsgi`.

Behind a buffering proxy (nginx, deploy/nginx.conf): it reads each request whole before
passing it on and takes the answer as fast as gunicorn writes it, so slow or half-open
client connections cost the proxy a socket, not a worker. gunicorn itself copes with some:

- `gthread` workers: each worker's main thread accepts and polls connections and hands one to
  a thread only when bytes arrive, so a connection that sends nothing holds no thread (after
  `GUNICORN_FIRST_BYTE_WAIT`) and is closed after `keepalive` seconds: 300 of them delay a
  request by milliseconds. A client that trickles its request in does hold a thread until it
  ends: `GUNICORN_THREADS` of them may stall a worker, which is why the proxy is not
  optional on the internet (config/tests/test_gunicorn.py measures both; README has numbers).
- `timeout`: a worker whose main loop is silent this long is killed and replaced.
- `limit_request_*`: a request line, header count and header size bound.

`GUNICORN_BIND` (127.0.0.1:8000), `WEB_CONCURRENCY` (worker processes, one per core) and
`GUNICORN_THREADS` (8 a worker) set the address and the concurrency; each thread may keep one
database connection (CONN_MAX_AGE), so PostgreSQL needs workers x threads connections per
machine. The app is loaded once in the master (`preload_app`) and its objects are moved out
of the garbage collector's sight before the workers fork (`gc.freeze()`): a full collection
then scans only what a request made, not the whole of Django.
"""

import gc
import os
from pathlib import Path

import environ
from gunicorn.workers import gthread

# The same environment file as the settings (ENV_FILE, else .env), read before the values below.
environ.Env.read_env(
    os.environ.get("ENV_FILE", str(Path(__file__).resolve().parent.parent / ".env")),
    overwrite=False,
)
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 8))
# Connections (active, idle or waiting for their first bytes) one worker keeps open at once.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", 1000))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30  # a restart lets running requests finish this long
keepalive = 5  # idle kept-alive connections (and ones yet to send a byte) are closed after 5 s
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
preload_app = True
# A new connection holds a thread this long while waiting for its first bytes, then waits in
# the poller (gunicorn's default: 5 s, so 300 connections that send nothing stall 2 workers x
# 8 threads for a minute; at 0.1 s for 2 s; at 0.01 s not noticeably). It also bounds
# draining a body the app left unread (then the connection is closed, not kept alive); 0
# would end every keep-alive. A module constant in gunicorn 27, hence set here.
gthread.DEFAULT_WORKER_DATA_TIMEOUT = float(os.environ.get("GUNICORN_FIRST_BYTE_WAIT", 0.01))
backlog = 2048


def pre_fork(server, worker):
    gc.freeze()
