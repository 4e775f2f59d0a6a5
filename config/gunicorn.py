"""gunicorn settings for production: `gunicorn -c config/gunicorn.py config.wsgi`.

`GUNICORN_BIND` (127.0.0.1:8000) and `WEB_CONCURRENCY` (one sync worker per core) set the
address and the workers. The app is loaded once in the master (`preload_app`) and its
objects are moved out of the garbage collector's sight before the workers fork
(`gc.freeze()`): a full collection then scans only what a request made, not the whole of
Django, which keeps it from adding milliseconds to a request now and then.
"""

import gc
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
worker_class = "sync"
preload_app = True
backlog = 2048


def pre_fork(server, worker):
    gc.freeze()
