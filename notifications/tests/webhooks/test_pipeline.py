"""Status webhooks end to end with real processes: the API accepts, the email pool sends to the SMTP
server, the relay publishes the status events, the webhook pool signs and posts them to a real receiver.
A receiver that is down for a while, and a webhook worker killed with SIGKILL mid-message, lose nothing."""

import signal
import time

import pytest

from notifications.models import WebhookEvent, WebhookEventState
from standins.boundary import wait_for
from standins.webhook_receiver import WebhookReceiver
from users.tests.factories import UserFactory

pytestmark = [pytest.mark.workers, pytest.mark.timeout(240)]


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


def _register(client, receiver: WebhookReceiver, **extra) -> int:
    response = client.post(
        "/api/v1/webhooks/",
        {"url": receiver.url, "events": ["notification.sent", "notification.failed"], **extra},
        format="json",
    )
    assert response.status_code == 201, response.json()
    receiver.secret = response.json()["data"]["secret"]
    return response.json()["data"]["id"]


def _send(client, users) -> list[str]:
    ids = []
    for user in users:
        response = client.post(
            "/api/v1/notifications/",
            {
                "notification_type": "email", "user_id": str(user.id), "template_code": "welcome",
                "variables": {"name": "Ada", "code": "7"}, "request_id": f"req-{time.time_ns()}",
                "metadata": {"order": user.email},
            },
            format="json",
        )  # fmt: skip
        assert response.status_code == 202, response.json()
        ids.append(response.json()["data"]["notification_id"])
    return ids


def test_a_sent_email_is_reported_to_the_receiver_signed(
    webhook_pool, service_client, receiver, email_template
):
    _register(service_client, receiver)
    [notification_id] = _send(service_client, [UserFactory()])

    wait_for(lambda: notification_id in receiver.by_notification(), timeout=60, message="the sent event")

    assert receiver.by_notification()[notification_id] == ["notification.sent"]
    assert receiver.refused_signatures == 0
    wait_for(
        lambda: WebhookEvent.objects.filter(state=WebhookEventState.DELIVERED).count() == 1,
        message="the event recorded delivered",
    )


def test_a_receiver_down_for_a_while_gets_every_event_after_it_is_back(
    webhook_pool, service_client, receiver, email_template
):
    _register(service_client, receiver)
    receiver.stop()
    ids = _send(service_client, UserFactory.create_batch(20))
    wait_for(
        lambda: WebhookEvent.objects.filter(attempts__gte=1).count() >= 1,
        timeout=60,
        message="a failed attempt while the receiver is down",
    )

    receiver.start()  # the same port
    wait_for(lambda: set(receiver.by_notification()) == set(ids), timeout=90, message="every event")

    assert all(types == ["notification.sent"] for types in receiver.by_notification().values())
    assert max(receiver.message_ids.values()) == 1


def test_a_webhook_worker_killed_mid_message_loses_nothing(
    webhook_pool, service_client, receiver, email_template
):
    _register(service_client, receiver)
    receiver.delay = 0.5  # a slow receiver: the kill lands while a message is being sent
    ids = _send(service_client, UserFactory.create_batch(12))
    wait_for(lambda: receiver.requests >= 2, timeout=60, message="the first requests")

    webhook_pool.stop("webhook", sig=signal.SIGKILL)
    receiver.delay = 0.0
    webhook_pool.start("webhook")

    wait_for(lambda: set(receiver.by_notification()) == set(ids), timeout=120, message="every event")
    assert all(types[0] == "notification.sent" for types in receiver.by_notification().values())
    wait_for(
        lambda: WebhookEvent.objects.filter(state=WebhookEventState.DELIVERED).count() == 12,
        message="every event recorded delivered",
    )


def test_the_webhook_pool_recovers_when_its_database_connections_are_killed(
    webhook_pool, service_client, receiver, email_template
):
    from django.db import connection

    _register(service_client, receiver)
    [first] = _send(service_client, [UserFactory()])
    wait_for(lambda: first in receiver.by_notification(), timeout=60, message="the first event")

    with connection.cursor() as cursor:  # as a PostgreSQL restart would: every other session ends
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    [second] = _send(service_client, [UserFactory()])

    wait_for(lambda: second in receiver.by_notification(), timeout=90, message="the event after the kill")
    assert receiver.by_notification()[second] == ["notification.sent"]
