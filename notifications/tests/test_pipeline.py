"""End to end: the API accepts, real Celery workers on the real RabbitMQ deliver to a real SMTP server
and, through the real Firebase Admin SDK, to the FCM stand-in."""

import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from notifications.channels import Channel
from notifications.models import AttemptOutcome, Notification, NotificationStatus
from notifications.services.dlq import dlq_list, dlq_purge, dlq_replay
from notifications.services.publisher import BatchPublisher, OutgoingTask
from notifications.tests.conftest import queue_depth
from standins.boundary import wait_for
from users.models import Device
from users.tests.factories import DeviceFactory, UserFactory

pytestmark = [pytest.mark.workers, pytest.mark.timeout(180)]


def _body(user, **overrides):
    body = {
        "notification_type": "email",
        "user_id": str(user.id),
        "template_code": "welcome",
        "variables": {"name": "Ada <Lovelace>", "code": "42"},
        "request_id": f"req-{time.time_ns()}",
    }
    body.update(overrides)
    return body


def _post(client, user, **overrides):
    body = _body(user, **overrides)
    response = client.post("/api/v1/notifications/", body, format="json", HTTP_X_CORRELATION_ID="trace-e2e-1")
    assert response.status_code in (200, 202), response.json()
    return response.json()["data"]["notification_id"]


def _status(notification_id: str) -> str:
    return Notification.objects.get(pk=notification_id).status


def _wait_status(notification_id: str, *statuses: str, timeout: float = 60) -> Notification:
    wait_for(lambda: _status(notification_id) in statuses, timeout=timeout, message=f"status in {statuses}")
    return Notification.objects.get(pk=notification_id)


def test_email_end_to_end(pipeline, service_client, smtp_server, email_template):
    user = UserFactory(email="ada@example.com")

    notification_id = _post(service_client, user)

    notification = _wait_status(notification_id, NotificationStatus.SENT)
    [message] = smtp_server.handler.messages_for(notification_id)
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Welcome Ada <Lovelace>"
    assert message["X-Correlation-ID"] == "trace-e2e-1"
    assert message["Message-ID"] == f"<{notification_id}@notifier.local>"
    text, html = message.get_payload()
    assert text.get_payload(decode=True).decode() == "Hi Ada <Lovelace>, your code is 42."
    assert "Ada &lt;Lovelace&gt;" in html.get_payload(decode=True).decode()
    assert notification.attempts == 1
    assert notification.provider_message_id == f"<{notification_id}@notifier.local>"
    assert [a.outcome for a in notification.delivery_attempts.all()] == [AttemptOutcome.SENT]


LOG_KEYS = {"time", "level", "logger", "message", "correlation_id", "role"}


def test_the_worker_and_the_relay_write_json_lines_that_follow_one_notification(
    pipeline, service_client, smtp_server, email_template
):
    user = UserFactory()
    response = service_client.post(
        "/api/v1/notifications/", _body(user), format="json", HTTP_X_CORRELATION_ID="trace-log-lines"
    )
    notification_id = response.json()["data"]["notification_id"]
    _wait_status(notification_id, NotificationStatus.SENT)

    def lines(process: str) -> list[dict]:
        return [json.loads(line) for line in pipeline.log(process).splitlines() if line.strip()]

    wait_for(
        lambda: any(line.get("notification_id") == notification_id for line in lines("email")),
        timeout=10,
        message="the worker's line",
    )
    worker_lines, relay_lines = lines("email"), lines("relay")
    assert all(line.keys() >= LOG_KEYS for line in worker_lines + relay_lines)
    assert all(line["role"].startswith("worker:email-test-") for line in worker_lines)
    assert {line["role"] for line in relay_lines} == {"relay"}
    [sent] = [line for line in worker_lines if line.get("notification_id") == notification_id]
    assert (sent["message"], sent["correlation_id"]) == ("notification sent", "trace-log-lines")
    assert sent["role"] == f"worker:{pipeline.hostname('email')}"
    assert any(
        line["logger"] == "celery.apps.worker" and line["message"].endswith("ready.") for line in worker_lines
    )


def test_push_end_to_end_deactivates_a_dead_token(pipeline, service_client, fcm_server, push_template):
    user = UserFactory()
    alive = DeviceFactory(user=user, token="token-alive")
    dead = DeviceFactory(user=user, token="token-dead")
    fcm_server.state.unregistered.add("token-dead")

    notification_id = _post(
        service_client,
        user,
        notification_type="push",
        template_code="alert",
        variables={"name": "Ada", "message": "Disk almost full"},
    )

    notification = _wait_status(notification_id, NotificationStatus.SENT)
    [sent] = fcm_server.state.sent_for(notification_id)
    assert sent["message"]["token"] == "token-alive"
    assert sent["message"]["notification"] == {
        "title": "Alert for Ada",
        "body": "Disk almost full",
        "image": "https://cdn.example.com/alert.png",
    }
    assert sent["message"]["data"]["link"] == "https://app.example.com/alerts"
    assert notification.delivered_device_ids == [alive.id]
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.active is False
    assert alive.active is True


def test_push_unavailable_is_retried_for_the_failing_device_only(
    pipeline, service_client, fcm_server, push_template
):
    user = UserFactory()
    DeviceFactory(user=user, token="token-a")
    DeviceFactory(user=user, token="token-b")
    fcm_server.state.scripted["token-b"] = [(429, "QUOTA_EXCEEDED")]

    notification_id = _post(
        service_client,
        user,
        notification_type="push",
        template_code="alert",
        variables={"name": "Ada", "message": "m"},
    )

    notification = _wait_status(notification_id, NotificationStatus.SENT)
    tokens = sorted(m["message"]["token"] for m in fcm_server.state.sent_for(notification_id))
    assert tokens == ["token-a", "token-b"]
    assert notification.attempts == 2


def test_a_transient_smtp_failure_is_retried_until_sent(
    pipeline, service_client, smtp_server, email_template
):
    user = UserFactory(email="flaky@example.com")
    smtp_server.handler.rcpt_answers["flaky@example.com"] = ["451 4.3.0 try again later"] * 2

    notification_id = _post(service_client, user)

    notification = _wait_status(notification_id, NotificationStatus.SENT)
    assert len(smtp_server.handler.messages_for(notification_id)) == 1
    assert notification.attempts == 3
    assert [a.outcome for a in notification.delivery_attempts.order_by("number")] == [
        AttemptOutcome.TRANSIENT_ERROR,
        AttemptOutcome.TRANSIENT_ERROR,
        AttemptOutcome.SENT,
    ]


def test_a_permanent_failure_goes_to_the_dlq_and_replays_once(
    pipeline, service_client, smtp_server, email_template
):
    user = UserFactory(email="gone@example.com")
    smtp_server.handler.always_refuse["gone@example.com"] = "550 5.1.1 no such mailbox"

    notification_id = _post(service_client, user)

    notification = _wait_status(notification_id, NotificationStatus.FAILED)
    assert notification.error.startswith("permanent: recipient refused: 550")
    wait_for(lambda: queue_depth(Channel("email").dlq) == 1, message="the dead letter")
    [letter] = dlq_list(channel="email")
    assert letter.notification_id == notification_id
    assert letter.reason.startswith("permanent: recipient refused")
    assert letter.attempts == 1

    smtp_server.handler.always_refuse.clear()
    first = dlq_replay(channel="email")
    _wait_status(notification_id, NotificationStatus.SENT)
    second = dlq_replay(channel="email")

    assert first.replayed == [notification_id]
    assert second.replayed == []
    assert queue_depth(Channel("email").dlq) == 0
    assert len(smtp_server.handler.messages_for(notification_id)) == 1


def test_exhausted_retries_end_failed_in_the_dlq(pipeline, service_client, smtp_server, email_template):
    user = UserFactory(email="busy@example.com")
    smtp_server.handler.always_refuse["busy@example.com"] = "452 4.2.2 mailbox full"

    notification_id = _post(service_client, user)

    notification = _wait_status(notification_id, NotificationStatus.FAILED, timeout=90)
    assert notification.error.startswith("retries exhausted after 4 transient failures")
    assert notification.attempts == 4
    wait_for(lambda: queue_depth(Channel("email").dlq) == 1, message="the dead letter")
    assert dlq_purge(channel="email", older_than=timedelta(days=1)) == 0
    wait_for(lambda: queue_depth(Channel("email").dlq) == 1, message="the dead letter to be back")
    assert dlq_purge(channel="email", dry_run=True) == 1
    wait_for(lambda: queue_depth(Channel("email").dlq) == 1, message="the dead letter to be back")
    assert dlq_purge(channel="email") == 1
    assert queue_depth(Channel("email").dlq) == 0


def test_the_breaker_opens_during_an_smtp_outage_and_nothing_fails(
    pipeline, service_client, smtp_server, email_template
):
    smtp_server.stop()
    users = [UserFactory() for _ in range(6)]
    ids = [_post(service_client, user) for user in users]
    wait_for(
        lambda: Notification.objects.filter(
            error__startswith="deferred: the email provider smtp's circuit breaker"
        ).exists(),
        timeout=60,
        message="the breaker to open",
    )
    attempts_while_open = sum(n.attempts for n in Notification.objects.filter(id__in=ids))

    time.sleep(2)
    smtp_server.start()

    for notification_id in ids:
        _wait_status(notification_id, NotificationStatus.SENT, timeout=90)
    assert all(len(smtp_server.handler.messages_for(i)) == 1 for i in ids)
    # Fewer provider calls than notifications x failures: the open breaker spared the provider.
    assert attempts_while_open < len(ids) * 2


def test_the_outbox_relay_delivers_what_was_accepted_during_a_broker_outage(
    pipeline, service_client, smtp_server, email_template
):
    user = UserFactory()
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=120)
    try:
        started = time.monotonic()
        notification_id = _post(service_client, user)
        elapsed = time.monotonic() - started
        assert _status(notification_id) == NotificationStatus.PENDING
    finally:
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=120)
    assert elapsed < 5

    _wait_status(notification_id, NotificationStatus.SENT, timeout=90)
    assert len(smtp_server.handler.messages_for(notification_id)) == 1


def test_a_worker_killed_mid_task_is_redelivered_and_sends_once(
    pipeline, service_client, smtp_server, email_template
):
    user = UserFactory(email="slow@example.com")
    smtp_server.handler.rcpt_delay["slow@example.com"] = 3.0

    notification_id = _post(service_client, user)
    _wait_status(notification_id, NotificationStatus.SENDING)
    smtp_server.handler.rcpt_delay.clear()
    for child in pipeline.children("email"):
        subprocess.run(["kill", "-9", str(child)], check=False)

    notification = _wait_status(notification_id, NotificationStatus.SENT, timeout=90)
    assert len(smtp_server.handler.messages_for(notification_id)) == 1
    assert notification.attempts == 2


def test_a_repeated_request_sends_one_email(pipeline, service_client, smtp_server, email_template):
    user = UserFactory()
    first = _post(service_client, user, request_id="only-once")
    second = _post(service_client, user, request_id="only-once")

    _wait_status(first, NotificationStatus.SENT)
    time.sleep(1)
    assert second == first
    assert len(smtp_server.handler.messages_for(first)) == 1


def test_a_duplicate_task_message_sends_once(pipeline, service_client, smtp_server, email_template):
    user = UserFactory()
    notification_id = _post(service_client, user)
    duplicate = OutgoingTask(channel="email", notification_ids=(notification_id,), correlation_id="dup")
    publisher = BatchPublisher()
    publisher.publish([duplicate, duplicate])
    publisher.close()

    _wait_status(notification_id, NotificationStatus.SENT)
    wait_for(lambda: queue_depth("email.queue") == 0, message="the queue to drain")
    time.sleep(1)
    assert len(smtp_server.handler.messages_for(notification_id)) == 1


def test_a_disabled_channel_skips_without_sending(pipeline, service_client, smtp_server, email_template):
    user = UserFactory(preferences={"email": False, "push": True})

    notification_id = _post(service_client, user)

    assert _status(notification_id) == NotificationStatus.SKIPPED
    time.sleep(1)
    assert smtp_server.handler.messages_for(notification_id) == []


def test_a_worker_stopped_with_sigterm_finishes_its_task(
    pipeline, service_client, smtp_server, email_template
):
    user = UserFactory(email="graceful@example.com")
    smtp_server.handler.rcpt_delay["graceful@example.com"] = 2.0
    notification_id = _post(service_client, user)
    _wait_status(notification_id, NotificationStatus.SENDING)

    pipeline.stop("email", sig=signal.SIGTERM)

    assert _status(notification_id) == NotificationStatus.SENT
    assert len(smtp_server.handler.messages_for(notification_id)) == 1
    assert Device.objects.count() == 0


def test_a_scheduled_send_goes_out_within_a_second_of_its_send_at_and_not_before(
    pipeline, service_client, smtp_server, email_template
):
    user = UserFactory()
    send_at = datetime.now(UTC) + timedelta(seconds=3)

    notification_id = _post(service_client, user, send_at=send_at.isoformat())

    assert _status(notification_id) == NotificationStatus.SCHEDULED
    notification = _wait_status(notification_id, NotificationStatus.SENT, timeout=30)
    received_at = smtp_server.handler.received_at[notification_id]
    assert 0 <= received_at - send_at.timestamp() < 1.0, received_at - send_at.timestamp()
    assert notification.attempts == 1


def test_a_cancelled_scheduled_send_is_never_sent(pipeline, service_client, smtp_server, email_template):
    user = UserFactory()
    send_at = datetime.now(UTC) + timedelta(seconds=2)
    notification_id = _post(service_client, user, send_at=send_at.isoformat())

    response = service_client.post(f"/api/v1/notifications/{notification_id}/cancel")
    time.sleep(3)

    assert response.status_code == 200
    assert _status(notification_id) == NotificationStatus.CANCELLED
    assert smtp_server.handler.messages_for(notification_id) == []


def test_an_urgent_send_overtakes_a_bulk_backlog(pipeline, service_client, smtp_server, email_template):
    slow = UserFactory(email="bulk@example.com")
    smtp_server.handler.rcpt_delay["bulk@example.com"] = 0.05  # 2 processes: a backlog of several seconds
    bulk = [{**_body(slow), "request_id": f"bulk-{index}-{time.time_ns()}"} for index in range(300)]
    accepted = service_client.post("/api/v1/notifications/batch", {"notifications": bulk}, format="json")
    assert accepted.json()["meta"]["accepted"] == 300
    wait_for(lambda: smtp_server.handler.messages, timeout=30, message="the bulk drain to start")
    urgent_user = UserFactory(email="otp@example.com")

    started = time.time()
    notification_id = _post(service_client, urgent_user, priority=9)
    _wait_status(notification_id, NotificationStatus.SENT, timeout=30)

    assert smtp_server.handler.received_at[notification_id] - started < 2.0
    assert Notification.objects.get(pk=notification_id).lane == "urgent"
    assert Notification.objects.filter(user=slow).exclude(status=NotificationStatus.SENT).exists()
    # The backlog drains too (and leaves nothing behind for the next test).
    wait_for(
        lambda: not Notification.objects.filter(user=slow).exclude(status=NotificationStatus.SENT).exists(),
        timeout=60,
        message="the bulk backlog to drain",
    )
