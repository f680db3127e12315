"""Retention: 100,000 notifications that ended long ago are pruned in batches, with their attempts; what
is recent or still on its way stays; the API keeps accepting while the prune runs."""

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from notifications.models import (
    Broadcast,
    BroadcastStatus,
    DeliveryAttempt,
    Notification,
    NotificationStatus,
    WebhookEndpoint,
    WebhookEvent,
)
from notifications.services.retention import retention_prune
from notifications.tests.conftest import ROOT
from notifications.tests.factories import NotificationFactory, send_body
from standins.boundary import wait_for

OLD = 100_000


def _old_notifications(user, count: int, days: int) -> None:
    """`count` sent emails created `days` ago, one attempt each, written set-based."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH made AS (
                INSERT INTO notifications_notification
                    (id, caller, request_id, request_hash, user_id, notification_type, template_code,
                     language, variables, metadata, priority, lane, status, error, correlation_id, attempts,
                     transient_failures, claimed_by, provider_message_id, delivered_device_ids, created_at,
                     updated_at, cancelled_by)
                SELECT gen_random_uuid(), 'key:old', 'old-' || g, 'h', %s, 'email', 'welcome', '', '{}',
                       '{}', 5, 'normal', 'sent', '', '', 1, 0, '', '', '[]',
                       now() - %s * interval '1 day', now() - %s * interval '1 day', ''
                  FROM generate_series(1, %s) g
                RETURNING id, created_at
            )
            INSERT INTO notifications_deliveryattempt
                (notification_id, number, worker, outcome, error_class, error_message, provider,
                 provider_message_id, started_at, finished_at)
            SELECT id, 1, 'w', 'sent', '', '', 'smtp', '', created_at, created_at FROM made
            """,
            [user.id, days, days, count],
        )


@pytest.mark.django_db(transaction=True)
def test_a_backlog_of_old_notifications_is_pruned_in_batches_while_the_api_accepts(
    user, service_client, email_template
):
    _old_notifications(user, OLD, days=40)
    old_pending = NotificationFactory(user=user, status=NotificationStatus.PENDING)
    Notification.objects.filter(pk=old_pending.pk).update(created_at=timezone.now() - timedelta(days=40))
    recent = NotificationFactory(user=user, status=NotificationStatus.SENT)
    accepted: list[int] = []
    done = threading.Event()

    def accept_meanwhile() -> None:
        while not done.is_set():
            response = service_client.post("/api/v1/notifications/", send_body(user), format="json")
            accepted.append(response.status_code)
        connection.close()

    sender = threading.Thread(target=accept_meanwhile)
    sender.start()
    try:
        report = retention_prune(cutoff=timezone.now() - timedelta(days=30), batch_size=5_000)
    finally:
        done.set()
        sender.join(timeout=60)

    assert report.deleted["notifications"] == OLD
    assert report.batches == OLD // 5_000
    assert set(Notification.objects.filter(caller="key:test").values_list("id", flat=True)) == {
        old_pending.id, recent.id,
    }  # fmt: skip
    assert not DeliveryAttempt.objects.filter(notification__caller="key:old").exists()
    assert accepted and set(accepted) == {202}


@pytest.mark.django_db
def test_the_command_prunes_webhook_events_and_finished_broadcasts_and_says_what(user):
    endpoint = WebhookEndpoint.objects.create(
        url="http://127.0.0.1:9/h", events=["notification.sent"], secret="s"
    )
    old = timezone.now() - timedelta(days=40)
    NotificationFactory(user=user, status=NotificationStatus.SENT)  # its event is written by the trigger
    WebhookEvent.objects.update(state="delivered", created_at=old)
    broadcast = Broadcast.objects.create(
        caller="key:test", request_id=f"b-{uuid.uuid4()}", request_hash="h", notification_type="email",
        template_code="welcome", status=BroadcastStatus.COMPLETE,
    )  # fmt: skip
    Broadcast.objects.filter(pk=broadcast.pk).update(created_at=old)
    Notification.objects.update(created_at=old)

    dry, done = StringIO(), StringIO()
    call_command("prune", "--dry-run", "--json", stdout=dry)
    counted = WebhookEvent.objects.count(), Broadcast.objects.count(), Notification.objects.count()
    call_command("prune", "--json", "--batch-size", "1", stdout=done)

    assert json.loads(dry.getvalue())["deleted"] == {"notifications": 1, "webhook_events": 1, "broadcasts": 1}
    assert counted == (1, 1, 1)
    result = json.loads(done.getvalue())
    assert result["deleted"] == {"notifications": 1, "webhook_events": 1, "broadcasts": 1}
    assert result["retention_days"] == 30
    assert not WebhookEvent.objects.exists() and not Broadcast.objects.exists()
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


@pytest.mark.django_db
def test_retention_off_keeps_everything(user, settings):
    settings.RETENTION_DAYS = 0
    NotificationFactory(user=user, status=NotificationStatus.SENT)
    Notification.objects.update(created_at=timezone.now() - timedelta(days=4000))
    out = StringIO()

    call_command("prune", stdout=out)

    assert "retention is off" in out.getvalue()
    assert Notification.objects.count() == 1


@pytest.mark.workers
@pytest.mark.timeout(120)
def test_the_scheduler_has_the_webhook_pool_prune_what_ended_long_ago(webhook_pool, user, tmp_path):
    old = NotificationFactory(user=user, status=NotificationStatus.SENT)
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    recent = NotificationFactory(user=user, status=NotificationStatus.SENT)
    log = open(tmp_path / "scheduler.log", "wb")  # noqa: SIM115 - closed below
    scheduler = subprocess.Popen(
        [sys.executable, "manage.py", "run_scheduler", "--loglevel", "INFO"],
        cwd=ROOT, env={**webhook_pool.env, "HOUSEKEEPING_INTERVAL_SECONDS": "1"}, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(
            lambda: not Notification.objects.filter(pk=old.pk).exists(),
            timeout=60,
            message="the old one pruned",
        )
    finally:
        os.killpg(scheduler.pid, signal.SIGTERM)
        scheduler.wait(timeout=30)
        log.close()

    assert Notification.objects.filter(pk=recent.pk).exists()
    assert "notifications.housekeeping" in (tmp_path / "scheduler.log").read_text()
