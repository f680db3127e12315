"""What gunicorn itself answers, over a raw socket: a refused body closes the connection, and gunicorn's
own refusals speak the API's envelope; and what it logs: the application's JSON lines."""

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from standins.boundary import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _exchange(port: int, request: bytes) -> tuple[str, dict[str, str], bytes, bool]:
    """Sends `request`, reads the answer; returns the status line, headers, body, and whether the server
    closed the connection afterwards."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        while len(body) < int(headers.get("content-length", 0)):
            body += sock.recv(65536)
        # Well inside gunicorn's keep-alive (5 s), after which it closes an idle connection anyway: a
        # refusal closes at once, a kept-alive connection stays open this long.
        sock.settimeout(1)
        try:
            closed = sock.recv(1) == b""
        except (TimeoutError, ConnectionResetError):
            closed = False
        return lines[0], headers, body, closed


@dataclass(frozen=True)
class Gunicorn:
    port: int
    log: Path


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "INFO",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("metrics")),
        "DATABASE_URL": (
            f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
    }
    log_path = tmp_path_factory.mktemp("log") / "gunicorn.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "notifier.wsgi", "--config", "python:notifier.gunicorn_conf"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def up() -> bool:
        try:
            return _exchange(port, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")[0].endswith("200 OK")
        except OSError:
            return False

    try:
        wait_for(up, timeout=30, message="gunicorn")
        yield Gunicorn(port, log_path)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_an_oversized_body_is_413_and_the_connection_closes(gunicorn):
    request = (
        b"POST /api/v1/notifications/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10000000\r\n\r\n" + b"{" * 1000
    )

    status, headers, body, closed = _exchange(gunicorn.port, request)

    assert status.startswith("HTTP/1.1 413")
    assert headers["connection"] == "close"
    assert json.loads(body)["error"] == "payload_too_large"
    assert closed


def test_a_request_line_too_long_for_gunicorn_answers_the_envelope(gunicorn):
    request = b"GET /api/v1/users/?email=" + b"x" * 10_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"

    status, headers, body, _ = _exchange(gunicorn.port, request)

    assert status.split()[1] in ("400", "414")
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["success"] is False


def test_an_ordinary_request_keeps_the_connection_alive(gunicorn):
    status, headers, _, closed = _exchange(gunicorn.port, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")

    assert status.endswith("200 OK")
    assert headers["connection"] == "keep-alive"
    assert not closed


def test_gunicorn_and_the_api_write_json_lines_with_the_same_keys(gunicorn):
    request = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Correlation-ID: trace-access-1\r\n\r\n"

    _exchange(gunicorn.port, request)

    def lines() -> list[dict]:
        return [json.loads(line) for line in gunicorn.log.read_text().splitlines() if line.strip()]

    wait_for(
        lambda: any(line["correlation_id"] == "trace-access-1" for line in lines()),
        timeout=10,
        message="the access line",
    )
    logged = lines()
    assert all({"time", "level", "logger", "message", "correlation_id"} <= line.keys() for line in logged)
    assert {line["role"] for line in logged} == {"api"}
    assert any(line["logger"] == "gunicorn.error" and "Listening at" in line["message"] for line in logged)
    [access] = [line for line in logged if line["correlation_id"] == "trace-access-1"]
    assert access["logger"] == "gunicorn.access"
    assert access["message"] == "GET /health 200"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/health", 200)
    assert isinstance(access["duration_ms"], int)
