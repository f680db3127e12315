"""Webhook events from status change to the receiver, in this process against a real HTTP receiver: the
trigger writes them in the status change's transaction, the delivery service leases, signs, sends and
records them; failures back off, 410 and long failure disable, order holds per notification."""

from collections.abc import Iterator
from datetime import timedelta

import kombu
import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from notifications.channels import WEBHOOK_QUEUE
from notifications.models import (
    Notification,
    NotificationStatus,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventState,
    WebhookEventType,
)
from notifications.services.publisher import BatchPublisher
from notifications.tests.factories import NotificationFactory
from notifications.webhooks.delivery import (
    _lease,
    webhook_events_deliver,
    webhook_events_relay_once,
    webhook_events_replay,
)
from notifications.webhooks.endpoints import PARKED, webhook_endpoint_create, webhook_endpoint_rotate_secret
from notifier.celery import topology_declare
from standins.webhook_receiver import WebhookReceiver

ALL_EVENTS = [event.value for event in WebhookEventType]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


def _endpoint(receiver: WebhookReceiver, events=ALL_EVENTS, **extra) -> WebhookEndpoint:
    created = webhook_endpoint_create(url=receiver.url, events=list(events), by="key:test", **extra)
    receiver.secret = created.secret
    return created.endpoint


def _deliver(endpoint: WebhookEndpoint) -> None:
    ids = list(WebhookEvent.objects.filter(endpoint=endpoint, state="pending").values_list("id", flat=True))
    webhook_events_deliver(event_ids=ids, endpoint_id=endpoint.id, worker="test")


@pytest.mark.django_db
def test_an_ended_notification_reaches_the_receiver_signed_with_no_address(receiver, user):
    endpoint = _endpoint(receiver)
    notification = NotificationFactory(
        user=user, status=NotificationStatus.QUEUED, metadata={"order": 42}, request_id="order-42-welcome"
    )
    Notification.objects.filter(pk=notification.pk).update(status=NotificationStatus.SENT, attempts=1)

    _deliver(endpoint)

    [event] = receiver.events
    assert event["type"] == "notification.sent"
    data = event["data"]
    assert (data["notification_id"], data["status"], data["request_id"], data["metadata"]) == (
        str(notification.id), "sent", "order-42-welcome", {"order": 42},
    )  # fmt: skip
    assert data["user_id"] == str(user.id) and data["attempts"] == 1 and data["channel"] == "email"
    assert user.email not in str(event)
    stored = WebhookEvent.objects.get()
    assert event["id"] == f"evt_{stored.id}"
    assert (stored.state, stored.attempts) == (WebhookEventState.DELIVERED, 1)
    attempt = WebhookAttempt.objects.get()
    assert (attempt.status_code, attempt.succeeded, attempt.error) == (200, True, "")
    assert attempt.latency_ms is not None


@pytest.mark.django_db
def test_only_the_events_an_endpoint_asked_for_are_written(receiver, user):
    _endpoint(receiver, events=["notification.failed"])

    NotificationFactory(user=user, status=NotificationStatus.SENT)
    failed = NotificationFactory(user=user, status=NotificationStatus.FAILED)

    assert list(WebhookEvent.objects.values_list("event_type", "notification_id")) == [
        ("notification.failed", failed.id)
    ]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_status_change_writes_no_event(receiver, user):
    _endpoint(receiver)
    notification = NotificationFactory(user=user, status=NotificationStatus.QUEUED)

    with pytest.raises(RuntimeError), transaction.atomic():
        Notification.objects.filter(pk=notification.pk).update(status=NotificationStatus.SENT)
        raise RuntimeError("the worker died before its commit")

    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_an_unchanged_status_writes_no_second_event(receiver, user):
    _endpoint(receiver)
    notification = NotificationFactory(user=user, status=NotificationStatus.SENT)

    Notification.objects.filter(pk=notification.pk).update(status=NotificationStatus.SENT, error="again")

    assert WebhookEvent.objects.count() == 1


@pytest.mark.django_db
def test_a_failing_receiver_is_retried_with_backoff_then_succeeds(receiver, user):
    endpoint = _endpoint(receiver)
    NotificationFactory(user=user, status=NotificationStatus.SENT)
    receiver.answer_status = 503

    _deliver(endpoint)
    event = WebhookEvent.objects.get()
    endpoint.refresh_from_db()
    first_failure = (event.state, event.attempts, event.last_error, endpoint.failing_since is not None)
    due_in = (event.available_at - timezone.now()).total_seconds()

    receiver.answer_status = 200
    _deliver(
        endpoint
    )  # not due yet: the lease statement still takes it (the message decides), as a worker would
    event.refresh_from_db()
    endpoint.refresh_from_db()

    assert first_failure[:2] == (WebhookEventState.PENDING, 1)
    assert first_failure[2].startswith("HTTP 503")
    assert first_failure[3] is True
    assert 0 < due_in <= settings.WEBHOOK_RETRY_BASE_SECONDS
    assert (event.state, event.attempts) == (WebhookEventState.DELIVERED, 2)
    assert endpoint.failing_since is None
    assert [a.status_code for a in WebhookAttempt.objects.order_by("id")] == [503, 200]


@pytest.mark.django_db
def test_a_410_disables_the_endpoint_and_keeps_its_events(receiver, user):
    endpoint = _endpoint(receiver)
    NotificationFactory.create_batch(2, user=user, status=NotificationStatus.SENT)
    receiver.answer_status = 410

    _deliver(endpoint)

    endpoint.refresh_from_db()
    assert endpoint.is_active is False
    assert endpoint.disabled_reason == "the endpoint answered 410 Gone"
    assert receiver.requests == 1
    assert set(WebhookEvent.objects.values_list("state", "available_at")) == {
        (WebhookEventState.PENDING, PARKED)
    }


@pytest.mark.django_db
def test_an_endpoint_failing_longer_than_the_limit_is_disabled_with_the_reason(receiver, user):
    endpoint = _endpoint(receiver)
    NotificationFactory(user=user, status=NotificationStatus.SENT)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=2))
    receiver.answer_status = 500

    with override_settings(WEBHOOK_DISABLE_AFTER_SECONDS=86400):
        _deliver(endpoint)

    endpoint.refresh_from_db()
    assert endpoint.is_active is False
    assert "every request failed since" in endpoint.disabled_reason


@pytest.mark.django_db
def test_an_event_past_the_retry_window_ends_failed_and_a_replay_sends_it(receiver, user):
    endpoint = _endpoint(receiver)
    NotificationFactory(user=user, status=NotificationStatus.SENT)
    WebhookEvent.objects.update(created_at=timezone.now() - timedelta(days=2))
    receiver.answer_status = 500

    _deliver(endpoint)
    failed = WebhookEvent.objects.get()
    receiver.answer_status = 200
    replayed = webhook_events_replay(endpoint_id=endpoint.id)
    _deliver(endpoint)

    assert failed.state == WebhookEventState.FAILED and failed.last_error.startswith("gave up after")
    assert replayed == 1
    assert WebhookEvent.objects.get().state == WebhookEventState.DELIVERED
    assert len(receiver.events) == 1


@pytest.mark.django_db
def test_a_host_that_turned_private_is_refused_at_send_time(receiver, user):
    endpoint = _endpoint(receiver)  # registered while private addresses were allowed (DNS can change)
    NotificationFactory(user=user, status=NotificationStatus.SENT)

    with override_settings(WEBHOOK_ALLOW_PRIVATE=False):
        _deliver(endpoint)

    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and attempt.error.startswith("refused:")
    assert receiver.requests == 0
    assert WebhookEvent.objects.get().state == WebhookEventState.PENDING


@pytest.mark.django_db
def test_a_later_event_waits_behind_an_earlier_failed_one_of_its_notification(receiver, user):
    endpoint = _endpoint(receiver)
    notification = NotificationFactory(user=user, status=NotificationStatus.SENT)
    Notification.objects.filter(pk=notification.pk).update(status=NotificationStatus.DELIVERED)
    receiver.answer_status = 500

    _deliver(endpoint)
    _, delivered_event = WebhookEvent.objects.order_by("id")
    # Only the delivered event's message arrives: it must not overtake the pending sent event.
    receiver.answer_status = 200
    webhook_events_deliver(event_ids=[delivered_event.id], endpoint_id=endpoint.id, worker="test")
    held = WebhookEvent.objects.get(pk=delivered_event.pk).state
    _deliver(endpoint)

    assert receiver.requests == 3  # the failed one, then both, in order
    assert held == WebhookEventState.PENDING
    assert [e["type"] for e in receiver.events] == ["notification.sent", "notification.delivered"]


@pytest.mark.django_db
def test_events_go_in_batches_where_the_endpoint_allows(receiver, user):
    endpoint = _endpoint(receiver, max_events_per_request=3)
    NotificationFactory.create_batch(5, user=user, status=NotificationStatus.SKIPPED)

    _deliver(endpoint)

    assert receiver.requests == 2
    assert len(receiver.events) == 5
    assert {e["id"] for e in receiver.events} == {
        f"evt_{i}" for i in WebhookEvent.objects.values_list("id", flat=True)
    }


@pytest.mark.django_db
def test_after_a_rotation_both_secrets_verify(receiver, user):
    endpoint = _endpoint(receiver)
    old = receiver.secret
    webhook_endpoint_rotate_secret(endpoint=endpoint)
    NotificationFactory(user=user, status=NotificationStatus.SENT)

    receiver.secret = old  # a receiver not yet switched to the new secret
    _deliver(endpoint)

    assert len(receiver.events) == 1 and receiver.refused_signatures == 0


@pytest.mark.django_db
def test_a_message_for_leased_events_does_nothing(receiver, user):
    endpoint = _endpoint(receiver)
    NotificationFactory(user=user, status=NotificationStatus.SENT)
    ids = list(WebhookEvent.objects.values_list("id", flat=True))

    assert [event.id for event in _lease(ids, endpoint.id)] == ids  # another worker holds them
    report = webhook_events_deliver(event_ids=ids, endpoint_id=endpoint.id, worker="test")

    assert (report.delivered, report.skipped, receiver.requests) == (0, 1, 0)


@pytest.mark.django_db
def test_the_relay_publishes_due_events_once_and_leases_them(receiver, user):
    topology_declare(broker_url=settings.CELERY_BROKER_URL, delivery_limit=settings.BROKER_DELIVERY_LIMIT)
    with kombu.Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
        conn.channel().queue_purge(WEBHOOK_QUEUE)
    endpoint = _endpoint(receiver)
    NotificationFactory.create_batch(3, user=user, status=NotificationStatus.SENT)
    publisher = BatchPublisher()

    first = webhook_events_relay_once(publisher=publisher)
    second = webhook_events_relay_once(publisher=publisher)
    publisher.close()

    with kombu.Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
        depth = conn.channel().queue_declare(queue=WEBHOOK_QUEUE, passive=True).message_count
        conn.channel().queue_purge(WEBHOOK_QUEUE)
    assert (first, second, depth) == (3, 0, 1)
    assert all(e.available_at > timezone.now() for e in WebhookEvent.objects.filter(endpoint=endpoint))


@pytest.mark.django_db
def test_a_broadcast_that_completes_reports_it(receiver, user):
    from notifications.models import Broadcast, BroadcastStatus

    _endpoint(receiver, events=["broadcast.completed"])
    broadcast = Broadcast.objects.create(
        caller="key:test", request_id="campaign-1", request_hash="h", notification_type="email",
        template_code="welcome", recipients=2,
    )  # fmt: skip
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.COMPLETE, notifications_created=2)

    [event] = WebhookEvent.objects.all()
    assert event.event_type == "broadcast.completed"
    assert event.payload["data"]["broadcast_id"] == str(broadcast.id)
    assert event.payload["data"]["notifications_created"] == 2


@pytest.mark.django_db
def test_the_trigger_reports_every_status_the_event_types_name():
    """The migration's status list and the event types are one fact written twice: they must agree."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'notification_status_webhooks'"
        )
        [definition] = cursor.fetchone()
    named = {
        event.value.split(".", 1)[1] for event in WebhookEventType if event.value.startswith("notification.")
    }
    assert named == {status for status in NotificationStatus.values if f"'{status}'" in definition}


@pytest.mark.django_db
def test_the_command_lists_endpoints_and_replays_failed_events(receiver, user):
    import json
    from io import StringIO

    from django.core.management import call_command

    endpoint = _endpoint(receiver)
    NotificationFactory.create_batch(2, user=user, status=NotificationStatus.SENT)
    WebhookEvent.objects.update(state=WebhookEventState.FAILED, last_error="gave up")

    listed, dry, replayed = StringIO(), StringIO(), StringIO()
    call_command("webhooks", "list", "--json", stdout=listed)
    call_command("webhooks", "replay", "--endpoint", str(endpoint.id), "--dry-run", stdout=dry)
    after_dry_run = WebhookEvent.objects.filter(state=WebhookEventState.FAILED).count()
    call_command("webhooks", "replay", "--endpoint", str(endpoint.id), stdout=replayed)

    [row] = json.loads(listed.getvalue())
    assert (row["id"], row["failed"], row["pending"]) == (endpoint.id, 2, 0)
    assert "would replay 2 event(s)" in dry.getvalue() and after_dry_run == 2
    assert "replayed 2 event(s)" in replayed.getvalue()
    assert WebhookEvent.objects.filter(state=WebhookEventState.PENDING).count() == 2
