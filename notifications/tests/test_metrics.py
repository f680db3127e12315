"""The values /metrics reads at scrape time, from the real RabbitMQ (the suite's vhost), Redis and
PostgreSQL: queue and dead-letter queue depths, the outbox backlog, the circuit breakers."""

import uuid

import kombu
import pybreaker
import pytest
from django.conf import settings
from django.test import Client

from notifications.channels import Channel
from notifications.models import Notification, OutboxEntry
from notifications.providers.breakers import _storage
from notifications.providers.registry import provider_for
from notifications.tests.conftest import purge_queues
from notifier.tests.test_metrics import samples, scrape


def publish_dead_letter(notification_id: str, channel: str = "email") -> None:
    """A task message as Celery writes it, put straight into the dead-letter queue (nothing consumes it)."""
    with kombu.Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
        conn.Producer().publish(
            [[notification_id], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}],
            exchange="",
            routing_key=Channel(channel).dlq,
            serializer="json",
            headers={"task": f"notifications.deliver_{channel}", "id": str(uuid.uuid4())},
            delivery_mode=2,
        )


def _labels(**labels: str) -> frozenset:
    return frozenset(labels.items())


@pytest.fixture
def clean_queues(broker):
    purge_queues()
    yield
    purge_queues()


def test_queue_and_dead_letter_depths_are_read_from_the_broker(db, clean_queues):
    publish_dead_letter(str(uuid.uuid4()))
    publish_dead_letter(str(uuid.uuid4()))

    values = samples(scrape(Client()))

    assert values[("notifier_dlq_messages", _labels(queue="email.dlq", channel="email"))] == 2
    assert values[("notifier_dlq_messages", _labels(queue="push.dlq", channel="push"))] == 0
    assert ("notifier_queue_messages", _labels(queue="email.queue", channel="email")) in values
    assert ("notifier_queue_consumers", _labels(queue="push.queue", channel="push")) in values
    assert values[("notifier_broker_up", frozenset())] == 1


def test_an_unreachable_broker_leaves_the_depths_out_and_says_so(db, settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"

    text = scrape(Client())
    values = samples(text)

    assert values[("notifier_broker_up", frozenset())] == 0
    assert not any(name in {"notifier_queue_messages", "notifier_dlq_messages"} for name, _ in values)
    assert ("notifier_outbox_backlog", frozenset()) in values  # the other sources still answer


def test_the_outbox_backlog_counts_unconfirmed_entries(db, user):
    for n in range(3):
        notification = Notification.objects.create(
            caller="key:t", request_id=f"backlog-{n}", request_hash="h", user=user,
            notification_type="email", template_code="welcome",
        )  # fmt: skip
        OutboxEntry.objects.create(notification=notification)

    values = samples(scrape(Client()))

    assert values[("notifier_outbox_backlog", frozenset())] == 3


def _breaker_labels(channel: str) -> frozenset:
    return _labels(channel=channel, provider=provider_for(channel).name)


def test_breaker_states_are_numbers(db):
    _storage(provider_for("email").breaker_name).state = pybreaker.STATE_OPEN
    _storage(provider_for("push").breaker_name).state = pybreaker.STATE_HALF_OPEN

    values = samples(scrape(Client()))

    assert values[("notifier_breaker_state", _breaker_labels("email"))] == 2
    assert values[("notifier_breaker_state", _breaker_labels("push"))] == 1


def test_a_closed_breaker_is_zero(db):
    values = samples(scrape(Client()))

    assert values[("notifier_breaker_state", _breaker_labels("email"))] == 0
    assert values[("notifier_breaker_state", _breaker_labels("push"))] == 0


def test_the_fan_out_backlog_counts_broadcasts_still_expanding_and_the_oldest_age(db):
    from datetime import timedelta

    from django.utils import timezone

    from notifications.models import Broadcast, BroadcastStatus

    def broadcast(request_id: str, status: str, age_seconds: int) -> None:
        made = Broadcast.objects.create(
            caller="key:t", request_id=request_id, request_hash="h", notification_type="email",
            template_code="welcome", status=status,
        )  # fmt: skip
        Broadcast.objects.filter(pk=made.pk).update(
            created_at=timezone.now() - timedelta(seconds=age_seconds)
        )

    quiet = samples(scrape(Client()))
    broadcast("old", BroadcastStatus.EXPANDING, 600)
    broadcast("new", BroadcastStatus.EXPANDING, 5)
    broadcast("done", BroadcastStatus.COMPLETE, 3600)

    values = samples(scrape(Client()))

    assert quiet[("notifier_broadcasts_expanding", frozenset())] == 0
    assert quiet[("notifier_broadcast_oldest_expanding_seconds", frozenset())] == 0
    assert values[("notifier_broadcasts_expanding", frozenset())] == 2
    assert 600 <= values[("notifier_broadcast_oldest_expanding_seconds", frozenset())] < 660
