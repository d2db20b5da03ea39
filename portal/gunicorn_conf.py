"""gunicorn's settings for the portal in production: ``gunicorn -c python:portal.gunicorn_conf``
(the repository's ``gunicorn.conf.py`` loads this, so a plain ``gunicorn`` there uses it too).

Each can be changed by environment variable, as gunicorn's own (``WEB_CONCURRENCY``) or the
portal's (``PORTAL_BIND``, ``PORTAL_THREADS``, ``PORTAL_TIMEOUT``).
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

wsgi_app = "portal:create_app()"
bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
#: gunicorn's rule of thumb: two per core, plus one.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
#: Threads per worker: a request waiting on Stripe or the database leaves the others running.
worker_class = "gthread"
threads = int(os.environ.get("PORTAL_THREADS", "4"))
#: The app (settings, templates, SDKs) is loaded once in the master and shared by the
#: workers it forks, instead of each paying the start-up again.
preload_app = True
#: A request still running after this many seconds is killed with its worker; nothing the
#: portal does in a request takes that long (the ledger check runs in the background).
timeout = int(os.environ.get("PORTAL_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
#: Access log to stdout, errors to stderr: the process manager keeps both.
accesslog = "-"
errorlog = "-"
#: Workers are replaced now and then, at different times, so no slow leak builds up.
max_requests = 2000
max_requests_jitter = 200


def post_fork(server: Any, worker: Any) -> None:
    """A forked worker must not share the master's database connections: the pool that
    preload_app filled (if it connected at all) is dropped, and each worker opens its own."""
    app = server.app.wsgi()
    engine = app.extensions.get("db_engine")
    if engine is not None:
        engine.dispose(close=False)
