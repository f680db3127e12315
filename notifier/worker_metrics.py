"""Metrics of a Celery worker: each worker's main process serves its pool's metrics on
WORKER_METRICS_PORT, so that every worker (container, host) is one Prometheus target.

The pool's processes are forked children: each writes its values to files in a metrics directory
private to this worker (Prometheus's multiprocess mode), and the main process adds them up when
scraped. The directory is made when the worker starts, before the pool forks, and removed when it
stops, so two workers on one host, or the API next to them, never mix their files.

prometheus-client is imported inside the functions only: the Celery app imports this module, and the
`notifier` package imports the Celery app, so a module-level import would load prometheus-client in
gunicorn's master (which imports `notifier.gunicorn_conf`) before PROMETHEUS_MULTIPROC_DIR is set.
"""

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from celery import signals

logger = logging.getLogger(__name__)


@dataclass
class _WorkerMetrics:
    path: str = ""
    server: WSGIServer | None = None


_state = _WorkerMetrics()
_task_started: dict[str, float] = {}


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _metrics_app(path: str) -> Any:
    from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest, multiprocess

    from notifier.metrics import metrics_access_allowed

    registry = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(registry, path=path)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") not in ("/metrics", "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not found\n"]
        if not metrics_access_allowed(
            remote_addr=environ.get("REMOTE_ADDR", ""), authorization=environ.get("HTTP_AUTHORIZATION", "")
        ):
            start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Forbidden\n"]
        output = generate_latest(registry)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)])
        return [output]

    return app


def worker_metrics_prepare(*, port: int) -> str:
    """Gives this worker a private multiprocess directory; call in the main process before the pool forks.

    prometheus-client picks how values are stored when it is imported, and the Celery app imports the
    metric definitions before any worker signal, so the choice is made again here. Every metric is
    labelled (notifications/metrics.py), so no value exists yet that could be left in the old store.
    """
    if not port:
        return ""
    from prometheus_client import values

    path = tempfile.mkdtemp(prefix=f"notifier-worker-metrics-{os.getpid()}-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    values.ValueClass = values.get_value_class()
    _state.path = path
    return path


def worker_metrics_serve(*, address: str, port: int) -> WSGIServer | None:
    """Serves the pool's metrics from the main process; a port in use is logged, not fatal: delivering
    matters more than being watched."""
    if not _state.path or not port:
        return None
    try:
        server = make_server(
            address, port, _metrics_app(_state.path), _ThreadingWSGIServer, handler_class=_QuietHandler
        )
    except OSError as exc:
        logger.warning("worker metrics not served", extra={"port": port, "error": repr(exc)})
        return None
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    _state.server = server
    logger.info("worker metrics served", extra={"address": address, "port": server.server_port})
    return server


def worker_metrics_stop() -> None:
    if _state.server is not None:
        _state.server.shutdown()
        _state.server.server_close()
        _state.server = None
    if _state.path:
        shutil.rmtree(_state.path, ignore_errors=True)
        _state.path = ""


# Signal handlers. celeryd_init, worker_ready and worker_shutdown run in the worker's main process;
# the task and process signals run in the pool's children.


def _on_celeryd_init(**kwargs: Any) -> None:
    from django.conf import settings

    worker_metrics_prepare(port=settings.WORKER_METRICS_PORT)


def _on_worker_ready(**kwargs: Any) -> None:
    from django.conf import settings

    worker_metrics_serve(address=settings.WORKER_METRICS_ADDRESS, port=settings.WORKER_METRICS_PORT)


def _on_worker_shutdown(**kwargs: Any) -> None:
    worker_metrics_stop()


def _on_task_prerun(task_id: str = "", **kwargs: Any) -> None:
    _task_started[task_id] = time.perf_counter()


def _on_task_postrun(task_id: str = "", task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    from notifications.metrics import worker_task_observed

    started = _task_started.pop(task_id, None)
    worker_task_observed(
        task=getattr(task, "name", None) or "unknown",
        state=state or "UNKNOWN",
        seconds=time.perf_counter() - started if started is not None else None,
    )


def _on_worker_process_shutdown(pid: int | None = None, **kwargs: Any) -> None:
    if _state.path or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


def worker_metrics_connect() -> None:
    """Connects the handlers above; the Celery app calls this once."""
    signals.celeryd_init.connect(_on_celeryd_init, weak=False)
    signals.worker_ready.connect(_on_worker_ready, weak=False)
    signals.worker_shutdown.connect(_on_worker_shutdown, weak=False)
    signals.task_prerun.connect(_on_task_prerun, weak=False)
    signals.task_postrun.connect(_on_task_postrun, weak=False)
    signals.worker_process_shutdown.connect(_on_worker_process_shutdown, weak=False)
