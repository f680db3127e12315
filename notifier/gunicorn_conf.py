"""gunicorn settings for the API; every value can be set from the environment."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from gunicorn import util

from notifier.api.bulk_routes import is_bulk_route
from notifier.environment import env
from notifier.settings.logging import LOGGING

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 - a server
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# gunicorn's own lines and its access log as the same JSON lines as the application's; the access line's
# message is `GET /path 200`, and its fields come from notifier.logging.AccessLogFilter.
logconfig_dict = LOGGING
access_log_format = "%(m)s %(U)s %(s)s"

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


# A body the API will refuse unread (413 too large, 411 chunked) leaves bytes on the connection: the
# answer must say `Connection: close` and the connection must end, not be kept alive and then dropped.
# The API cannot ask gunicorn for that through WSGI (Connection is hop-by-hop), so the request is marked
# here, from the same setting the API checks.
_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=256 * 1024)
_BATCH_MAX_BODY_BYTES = env.int("API_BATCH_MAX_BODY_BYTES", default=4 * 1024 * 1024)


def pre_request(worker: Any, req: Any) -> None:
    headers = {name: value for name, value in req.headers}
    try:
        limit = _BATCH_MAX_BODY_BYTES if is_bulk_route(req.path) else _MAX_BODY_BYTES
        too_large = int(headers.get("CONTENT-LENGTH") or 0) > limit
    except ValueError:
        too_large = True
    if too_large or "chunked" in headers.get("TRANSFER-ENCODING", "").lower():
        req.must_close = True


def _write_error_envelope(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own refusals (a request line or header too long, a malformed request) in the API's
    envelope instead of an HTML page; gunicorn 27 (pinned) writes them through util.write_error."""
    body = json.dumps(
        {"success": False, "data": None, "error": "bad_request", "message": f"{reason}: {mesg}", "meta": None}
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    util.write_nonblock(sock, head + body)


util.write_error = _write_error_envelope
