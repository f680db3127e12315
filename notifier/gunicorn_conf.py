"""gunicorn settings for the API; every value can be set from the environment."""

import os
import tempfile
from pathlib import Path
from typing import Any

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 - a server
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = None
logconfig_dict: dict = {}

# Metrics: each gunicorn worker process writes its values to files in PROMETHEUS_MULTIPROC_DIR and
# /metrics adds them up. Set here, before the workers import the app, so prometheus-client sees it;
# the default is a directory of this API's own (per port) under the system's temporary directory.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(tempfile.gettempdir(), f"notifier-metrics-api-{os.environ.get('PORT', '8000')}"),
)


def on_starting(server: Any) -> None:
    """The master owns the directory: it starts empty, so counters of an earlier run do not linger."""
    path = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """A worker process that ended no longer counts in the live gauges; its counters stay summed."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
