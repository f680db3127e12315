"""The outbox and its relay against the real PostgreSQL and RabbitMQ: what is due is published in batch
messages per channel; what is not due waits; what stopped moving is put back."""

import json
from datetime import timedelta

import kombu
import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from notifications.channels import Channel
from notifications.models import Notification, NotificationStatus, OutboxEntry
from notifications.services.outbox import outbox_defer, outbox_relay_once, outbox_sweep_stalled
from notifications.services.publisher import BatchPublisher
from notifications.tests.conftest import purge_queues
from notifications.tests.factories import NotificationFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def queues(broker):
    purge_queues()
    yield
    purge_queues()


def _messages(channel: str) -> list[list[str]]:
    """The id batches waiting in a channel's queue, taken off it."""
    batches = []
    with kombu.Connection(settings.CELERY_BROKER_URL) as conn:
        queue = kombu.Queue(Channel(channel).queue, channel=conn.channel(), no_declare=True)
        while (message := queue.get(no_ack=True, accept=["json"])) is not None:
            body = message.body if isinstance(message.body, (bytes, str)) else json.dumps(message.body)
            batches.append(json.loads(body)[0][0])
    return batches


def _pending(count: int, **fields) -> list[Notification]:
    user = UserFactory()
    notifications = [
        NotificationFactory(user=user, status=NotificationStatus.PENDING, **fields) for _ in range(count)
    ]
    for notification in notifications:
        OutboxEntry.objects.create(notification=notification)
    return notifications


def test_the_relay_groups_due_entries_by_channel_into_batches(queues, settings):
    settings.DELIVERY_BATCH_SIZE = 100
    emails = _pending(250)
    pushes = _pending(3, notification_type="push")
    publisher = BatchPublisher()

    published = outbox_relay_once(publisher=publisher)
    publisher.close()

    email_batches, push_batches = _messages("email"), _messages("push")
    assert published == 253
    assert [len(batch) for batch in email_batches] == [100, 100, 50]
    assert sorted(i for batch in email_batches for i in batch) == sorted(str(n.id) for n in emails)
    assert [sorted(batch) for batch in push_batches] == [sorted(str(n.id) for n in pushes)]
    assert not OutboxEntry.objects.exists()
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.QUEUED}


def test_an_entry_not_yet_due_waits(queues):
    [later] = _pending(1)
    OutboxEntry.objects.filter(notification=later).update(available_at=timezone.now() + timedelta(minutes=5))
    [now] = _pending(1)
    publisher = BatchPublisher()

    published = outbox_relay_once(publisher=publisher)
    publisher.close()

    assert published == 1
    assert _messages("email") == [[str(now.id)]]
    assert OutboxEntry.objects.get().notification_id == later.id


def test_deferring_keeps_the_earlier_due_time(queues):
    [notification] = _pending(1)
    soon, later = timezone.now() + timedelta(seconds=10), timezone.now() + timedelta(minutes=10)
    OutboxEntry.objects.filter(notification=notification).update(available_at=soon)

    outbox_defer(due={str(notification.id): later})

    assert OutboxEntry.objects.get(notification=notification).available_at == soon


def _stalled(status: str, **fields) -> Notification:
    notification = NotificationFactory(status=status, **fields)
    Notification.objects.filter(pk=notification.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    return notification


def test_the_sweep_puts_back_what_stopped_moving_and_no_live_claim_holds():
    sending = _stalled(NotificationStatus.SENDING, claimed_by="dead:1")
    queued = _stalled(NotificationStatus.QUEUED)
    held = _stalled(NotificationStatus.SENDING)
    fresh = NotificationFactory(status=NotificationStatus.QUEUED)
    sent = _stalled(NotificationStatus.SENT)
    db = connection.settings_dict
    worker = psycopg.connect(
        dbname=db["NAME"], host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or None
    )
    worker.execute("SELECT pg_advisory_lock(hashtextextended(%s::text, 0))", [str(held.id)])
    try:
        swept = outbox_sweep_stalled()
        again = outbox_sweep_stalled()  # swept ones count as moving again
    finally:
        worker.close()

    assert swept == 2
    assert set(OutboxEntry.objects.values_list("notification_id", flat=True)) == {sending.id, queued.id}
    assert Notification.objects.get(pk=sending.pk).status == NotificationStatus.QUEUED
    assert {Notification.objects.get(pk=n.pk).status for n in (held, fresh, sent)} == {
        NotificationStatus.SENDING, NotificationStatus.QUEUED, NotificationStatus.SENT,
    }  # fmt: skip
    assert again == 0


def test_the_sweep_leaves_queued_ones_of_a_channel_with_a_backlog():
    queued = _stalled(NotificationStatus.QUEUED)
    sending = _stalled(NotificationStatus.SENDING)

    swept = outbox_sweep_stalled(channels_with_backlog=frozenset({"email"}))

    assert swept == 1
    assert list(OutboxEntry.objects.values_list("notification_id", flat=True)) == [sending.id]
    assert Notification.objects.get(pk=queued.pk).status == NotificationStatus.QUEUED
