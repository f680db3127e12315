"""A Celery worker started with WORKER_METRICS_PORT serves its pool's metrics from its main process,
adding up what the forked pool processes recorded, and cleans its metrics directory up when it stops."""

import glob
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from notifications.models import Notification, NotificationStatus
from notifications.tests.conftest import Workers
from notifier.celery import app as celery_app
from standins.boundary import free_port, wait_for
from users.tests.factories import UserFactory

pytestmark = [pytest.mark.workers, pytest.mark.timeout(180)]


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()
    except (urllib.error.URLError, OSError):
        return None


def test_a_worker_serves_the_metrics_of_its_pool(pipeline, email_template, tmp_path: Path):
    port = free_port()
    worker = Workers({**pipeline.env, "WORKER_METRICS_PORT": str(port)}, tmp_path)
    pipeline.stop("email")  # the message below must reach the worker under test
    process = worker.start("email")
    try:
        wait_for(lambda: _scrape(port) is not None, timeout=30, message="the worker's metrics port")
        [metrics_dir] = glob.glob(f"{tempfile.gettempdir()}/notifier-worker-metrics-{process.pid}-*")
        user = UserFactory()
        notification = Notification.objects.create(
            caller="key:t", request_id="worker-metrics", request_hash="h", user=user,
            notification_type="email", template_code="welcome", variables={"name": "A", "code": "1"},
            status=NotificationStatus.QUEUED,
        )  # fmt: skip

        celery_app.send_task("notifications.deliver_email", args=[str(notification.id)])

        wait_for(
            lambda: Notification.objects.get(pk=notification.pk).status == NotificationStatus.SENT,
            timeout=60,
            message="sent",
        )
        expected = 'notifier_worker_tasks_total{state="SUCCESS",task="notifications.deliver_email"} 1.0'
        wait_for(lambda: expected in (_scrape(port) or ""), timeout=10, message="the task counted")
        text = _scrape(port) or ""
        assert "notifier_worker_task_duration_seconds_count" in text
        assert "notifier_outbox_backlog" not in text  # values read at scrape time are the API's alone
    finally:
        worker.stop("email")
    assert not Path(metrics_dir).exists()
