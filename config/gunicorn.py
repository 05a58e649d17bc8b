"""gunicorn settings: docker-compose, the Dockerfile and bench/bench_api_load.py all use these.

    gunicorn -c config/gunicorn.py config.wsgi:application

Threaded workers (gthread) keep HTTP connections alive between requests; each thread has its
own database connection (``CONN_MAX_AGE``). The application is imported once in the master
before forking (``preload_app``) and its objects are frozen out of the garbage collector's
reach, so workers start warm, share those pages, and collections scan only what requests make.
Every setting can be overridden from the environment (``WEB_*``) or on the command line.
"""

from __future__ import annotations

import gc
import os
from typing import Any

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_WORKERS", str(2 * (os.cpu_count() or 1))))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "2"))
# Keep-alive connections one worker holds at most; beyond that, clients wait to be accepted by
# another worker, which spreads them evenly.
worker_connections = int(os.environ.get("WEB_WORKER_CONNECTIONS", "1000"))
keepalive = int(os.environ.get("WEB_KEEPALIVE", "5"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
preload_app = True
# The heartbeat file is touched on every loop; in memory rather than on (overlay) disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")


def when_ready(server: Any) -> None:
    """After the app is loaded, before the first fork: freeze what import created."""
    gc.collect()
    gc.freeze()
