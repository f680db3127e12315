"""The operator's commands: setup_broker, seed_demo, outbox_relay, dlq, stats."""

import json
import os
import re
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework_api_key.models import APIKey

from notifications.models import Notification, NotificationStatus, OutboxEntry
from templates_app.models import Template
from users.models import User


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_setup_broker_declares_every_queue(broker):
    output = _run("setup_broker")

    for name in ("email.queue", "push.queue", "email.dlq", "push.dlq"):
        assert name in output


@pytest.mark.django_db
def test_seed_demo_seeds_once_and_prints_the_same_credentials(settings, tmp_path):
    settings.BASE_DIR = tmp_path

    first = _run("seed_demo")
    second = _run("seed_demo")

    assert "demo seeded:" in first
    assert "demo (seeded earlier):" in second
    key = next(line for line in first.splitlines() if line.startswith("API key")).split(": ", 1)[1]
    assert APIKey.objects.get_from_key(key).name == "demo"
    assert key in second
    assert User.objects.filter(is_staff=True).count() == 1
    assert set(Template.objects.values_list("code", "notification_type")) == {
        ("welcome", "email"),
        ("alert", "push"),
    }


def _login_and_key(output: str) -> tuple[str, str]:
    login = next(line for line in output.splitlines() if line.startswith("admin"))
    password = login.split(" / ", 1)[1].split()[0]
    key = next(line for line in output.splitlines() if line.startswith("API key")).split(": ", 1)[1]
    return password, key


def _works(password: str, key: str) -> bool:
    admin = User.objects.get(email="admin@notifier.local")
    return admin.check_password(password) and APIKey.objects.is_valid(key)


@pytest.mark.django_db
def test_seed_demo_makes_new_working_credentials_when_the_file_is_gone(settings, tmp_path):
    settings.BASE_DIR = tmp_path / "first-checkout"
    first = _run("seed_demo")
    settings.BASE_DIR = tmp_path / "second-checkout"  # another checkout sharing the database

    second = _run("seed_demo")

    assert "demo (new credentials):" in second
    assert _works(*_login_and_key(second))
    assert User.objects.filter(is_staff=True).count() == 1
    assert _login_and_key(first)[0] != _login_and_key(second)[0]


@pytest.mark.django_db
def test_seed_demo_renews_credentials_that_stopped_working(settings, tmp_path):
    settings.BASE_DIR = tmp_path
    _, key = _login_and_key(_run("seed_demo"))
    APIKey.objects.filter(pk=APIKey.objects.get_from_key(key).pk).update(revoked=True)

    again = _run("seed_demo")

    assert "demo (new credentials):" in again
    assert _works(*_login_and_key(again))


@pytest.mark.django_db
def test_seed_demos_curl_line_sends_a_new_request_id_each_time(settings, tmp_path):
    settings.BASE_DIR = tmp_path
    curl = next(line for line in _run("seed_demo").splitlines() if line.startswith("curl"))

    first = subprocess.run(["bash", "-c", f"echo {curl}"], capture_output=True, text=True, check=True)
    time.sleep(0.01)
    second = subprocess.run(["bash", "-c", f"echo {curl}"], capture_output=True, text=True, check=True)

    assert f"http://localhost:{settings.PORT}/api/v1/notifications/" in curl
    ids = [json.loads(run.stdout.split(" -d ", 1)[1])["request_id"] for run in (first, second)]
    assert ids[0] != ids[1]
    assert all(re.fullmatch(r"demo-\d+", request_id) for request_id in ids)


def test_dlq_replay_refuses_an_id_that_is_not_a_uuid():
    with pytest.raises(CommandError, match="--id takes a notification id"):
        call_command("dlq", "replay", "--id", "not-a-uuid")


@pytest.mark.django_db
def test_outbox_relay_once_publishes_the_outbox(broker, user, email_template):
    notification = Notification.objects.create(
        caller="key:x", request_id="left", request_hash="h", user=user, notification_type="email",
        template_code="welcome", variables={"name": "A", "code": "1"},
    )  # fmt: skip
    OutboxEntry.objects.create(notification=notification)

    output = _run("outbox_relay", "--once")

    notification.refresh_from_db()
    assert "relayed 1" in output
    assert notification.status == NotificationStatus.QUEUED
    assert not OutboxEntry.objects.exists()


def test_dlq_purge_refuses_a_bad_age():
    with pytest.raises(CommandError, match="--older-than"):
        call_command("dlq", "purge", "--older-than", "soon")


@pytest.mark.django_db
def test_dlq_list_on_an_empty_queue(broker):
    from notifications.tests.conftest import purge_queues

    purge_queues()

    assert "0 dead letter(s)" in _run("dlq", "list", "--queue", "email")


def test_commands_print_results_on_stdout_and_json_logs_on_stderr(broker):
    from notifications.tests.conftest import purge_queues

    purge_queues()
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "manage.py", "dlq", "replay", "--dry-run", "--queue", "email"],
        cwd=root,
        env={**os.environ, "LOG_LEVEL": "INFO"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert result.stdout.strip().endswith("would replay 0, skipped 0")
    assert "{" not in result.stdout
    logs = [json.loads(line) for line in result.stderr.splitlines()]
    assert any(line["message"] == "dlq replay" and line["level"] == "INFO" for line in logs)
    assert {line["role"] for line in logs} == {"dlq"}


def test_dlq_commands_answer_json_and_report_each_letter_read(broker, user):
    from notifications.services.dlq import dlq_purge
    from notifications.tests.conftest import purge_queues, queue_depth
    from notifications.tests.factories import NotificationFactory
    from notifications.tests.test_metrics import publish_dead_letter

    purge_queues()
    failed = NotificationFactory(user=user, status=NotificationStatus.FAILED)
    sent = NotificationFactory(user=user, status=NotificationStatus.SENT)
    for notification in (failed, sent):
        publish_dead_letter(str(notification.id))

    listed = json.loads(_run("dlq", "list", "--json"))
    dry = json.loads(_run("dlq", "replay", "--dry-run", "--json", "--queue", "email"))
    read: list[tuple[str, int]] = []
    would_purge = dlq_purge(
        channel="email", dry_run=True, on_letter=lambda queue, total: read.append((queue, total))
    )

    assert listed["count"] == 2
    assert {row["notification_id"]: row["status"] for row in listed["dead_letters"]} == {
        str(failed.id): "failed", str(sent.id): "sent"
    }  # fmt: skip
    assert dry == {"dry_run": True, "replayed": [str(failed.id)], "skipped": [str(sent.id)]}
    assert would_purge == 2
    assert read == [("email.dlq", 2), ("email.dlq", 2)]
    assert queue_depth("email.dlq") == 2
    assert json.loads(_run("dlq", "purge", "--json")) == {"dry_run": False, "purged": 2}
    assert queue_depth("email.dlq") == 0


@pytest.fixture
def counted(db):
    from datetime import timedelta

    from django.utils import timezone

    from notifications.tests.factories import NotificationFactory

    sent = [NotificationFactory(status=NotificationStatus.SENT) for _ in range(2)]
    pending = NotificationFactory(notification_type="push", status=NotificationStatus.PENDING)
    Notification.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    old = NotificationFactory(status=NotificationStatus.FAILED)
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    OutboxEntry.objects.create(notification=pending)
    return sent, pending


def test_stats_counts_the_window_and_names_the_oldest_unfinished(counted, broker):
    _, pending = counted

    report = json.loads(_run("stats", "--window", "1d", "--json"))

    assert report["window_seconds"] == 86_400
    assert report["notifications"] == {"email": {"sent": 2}, "push": {"pending": 1}}  # the 3-day-old is out
    assert report["oldest_unfinished"]["notification_id"] == str(pending.id)
    assert report["oldest_unfinished"]["status"] == "pending"
    assert 290 <= report["oldest_unfinished"]["age_seconds"] < 400
    assert report["outbox_backlog"] == 1
    assert report["broadcasts_expanding"] == 0
    assert set(report["queues"]) == {
        "email.urgent.queue", "email.queue", "email.bulk.queue", "email.dlq",
        "push.urgent.queue", "push.queue", "push.bulk.queue", "push.dlq", "webhook.queue",
    }  # fmt: skip


def test_stats_prints_a_table_for_people(counted, broker):
    output = _run("stats", "--window", "7d")

    assert "notifications created in the last 168 h, by channel and status:" in output
    assert "  email    failed 1, sent 2" in output
    assert "  push     pending 1" in output
    assert "outbox: 1 due, 0 waiting" in output
    assert "email.queue" in output


def test_stats_refuses_a_window_that_is_not_a_duration(db):
    with pytest.raises(CommandError, match="--window takes a number and a unit"):
        _run("stats", "--window", "yesterday")
