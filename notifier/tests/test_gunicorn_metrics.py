"""The API under gunicorn, as the Procfile starts it: /metrics adds up every worker process's counts."""

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from standins.boundary import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - http, built here
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def test_importing_the_project_leaves_prometheus_client_unloaded():
    """gunicorn's master imports `notifier.gunicorn_conf`, which sets PROMETHEUS_MULTIPROC_DIR: the
    package must not have loaded prometheus-client before, or every process would count alone."""
    script = "import sys, notifier.gunicorn_conf; sys.exit('prometheus_client' in sys.modules)"
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)


@pytest.mark.django_db
def test_gunicorn_processes_are_counted_together(tmp_path):
    db = connection.settings_dict
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left by an earlier run")
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "3",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "DATABASE_URL": (
            f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
    }
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "notifier.wsgi", "--config", "python:notifier.gunicorn_conf"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(f"{base}/health")[0] == 200, timeout=30, message="gunicorn")
        for _ in range(29):
            assert _get(f"{base}/health")[0] == 200

        status, text = _get(f"{base}/metrics")

        assert status == 200
        assert 'notifier_http_requests_total{endpoint="/health",method="GET",status="200"} 30.0' in text
        assert "notifier_outbox_backlog 0.0" in text
        assert not (metrics_dir / "counter_999999.db").exists()  # the master emptied the directory
        assert len(list(metrics_dir.glob("counter_*.db"))) >= 1
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
