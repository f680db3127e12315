"""Priority lanes: each channel's urgent, normal and bulk lanes are queues of their own; a send's lane
comes from what it names, its priority, or the way it was sent; the relay publishes urgent entries first;
and the worker pools' command lines are written once."""

import json
import uuid
from datetime import timedelta

import kombu
import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from notifications.channels import Channel, Lane, lane_of_routing_key
from notifications.models import Broadcast, Notification, NotificationStatus, OutboxEntry
from notifications.services.broadcast import broadcast_expand_once
from notifications.services.outbox import outbox_relay_once
from notifications.services.publisher import BatchPublisher
from notifications.tests.conftest import purge_queues
from notifications.tests.factories import NotificationFactory, send_body
from notifications.tests.test_broadcast_api import _topic_send, _topic_with
from notifier.celery import build_topology
from notifier.workers import worker_argv
from users.tests.factories import UserFactory

URL = "/api/v1/notifications/"


def test_each_channel_has_a_queue_per_lane_with_the_same_dead_lettering():
    _, _, queues, _ = build_topology(delivery_limit=5)

    by_name = {queue.name: queue for queue in queues}
    assert sorted(by_name) == sorted(
        [
            "email.urgent.queue", "email.queue", "email.bulk.queue",
            "push.urgent.queue", "push.queue", "push.bulk.queue", "webhook.queue", "housekeeping.queue",
        ]
    )  # fmt: skip
    assert by_name["email.urgent.queue"].routing_key == "email.urgent"
    assert by_name["email.queue"].routing_key == "email"
    # The webhook pool's queues: quorum, no dead-lettering (PostgreSQL holds the events; a housekeeping
    # run lost is done by the next).
    for name in ("webhook.queue", "housekeeping.queue"):
        queue = by_name.pop(name)
        assert queue.queue_arguments["x-queue-type"] == "quorum"
        assert "x-dead-letter-exchange" not in queue.queue_arguments
    for queue in by_name.values():
        channel = queue.name.split(".")[0]
        assert queue.queue_arguments["x-queue-type"] == "quorum"
        assert queue.queue_arguments["x-dead-letter-routing-key"] == f"{channel}.dlq"
    assert [lane_of_routing_key(key) for key in ("email", "email.urgent", "push.bulk")] == [
        Lane.NORMAL,
        Lane.URGENT,
        Lane.BULK,
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "lane"),
    [
        ({}, "normal"),
        ({"priority": 8}, "urgent"),
        ({"priority": 10, "lane": "normal"}, "normal"),  # a named lane wins
        ({"lane": "bulk"}, "bulk"),
    ],
)
def test_a_single_send_lane_comes_from_its_lane_its_priority_or_normal(
    service_client, email_template, overrides, lane
):
    user = UserFactory()

    response = service_client.post(URL, send_body(user, **overrides), format="json")

    notification = Notification.objects.get(pk=response.json()["data"]["notification_id"])
    assert notification.lane == lane
    assert OutboxEntry.objects.get(notification=notification).lane == lane


@pytest.mark.django_db
def test_another_lane_for_the_same_request_id_conflicts(service_client, email_template):
    user = UserFactory()
    body = send_body(user)

    first = service_client.post(URL, body, format="json")
    other = service_client.post(URL, {**body, "lane": "urgent"}, format="json")

    assert (first.status_code, other.status_code) == (202, 409)


@pytest.mark.django_db
def test_a_batch_is_bulk_unless_an_item_says_otherwise(service_client, email_template):
    user = UserFactory()
    items = [send_body(user), send_body(user, priority=9), send_body(user, lane="normal")]

    response = service_client.post(f"{URL}batch", {"notifications": items}, format="json")

    ids = [item["notification_id"] for item in response.json()["data"]]
    lanes = dict(Notification.objects.filter(pk__in=ids).values_list("id", "lane"))
    assert [lanes[uuid.UUID(i)] for i in ids] == ["bulk", "urgent", "normal"]


@pytest.mark.django_db
def test_a_topic_send_is_bulk_and_an_urgent_one_urgent(service_client, email_template):
    _topic_with([UserFactory(), UserFactory()])

    bulk = service_client.post(URL, _topic_send(), format="json").json()["data"]["broadcast_id"]
    urgent = service_client.post(URL, _topic_send(priority=9), format="json").json()["data"]["broadcast_id"]
    while broadcast_expand_once():
        pass

    assert Broadcast.objects.get(pk=bulk).lane == "bulk"
    assert set(Notification.objects.filter(broadcast_id=bulk).values_list("lane", flat=True)) == {"bulk"}
    assert set(Notification.objects.filter(broadcast_id=urgent).values_list("lane", flat=True)) == {"urgent"}


def _taken(queue: str) -> list[list[str]]:
    batches = []
    with kombu.Connection(settings.CELERY_BROKER_URL) as conn:
        consumer = kombu.Queue(queue, channel=conn.channel(), no_declare=True)
        while (message := consumer.get(no_ack=True, accept=["json"])) is not None:
            body = message.body if isinstance(message.body, (bytes, str)) else json.dumps(message.body)
            batches.append(json.loads(body)[0][0])
    return batches


@pytest.mark.django_db
def test_the_relay_publishes_urgent_entries_first_each_to_its_lane_queue(broker, email_template):
    purge_queues()
    user = UserFactory()
    bulk = [NotificationFactory(user=user, status=NotificationStatus.PENDING, lane="bulk") for _ in range(6)]
    earlier = timezone.now() - timedelta(minutes=1)
    for notification in bulk:
        OutboxEntry.objects.create(notification=notification, lane="bulk", available_at=earlier)
    urgent = NotificationFactory(user=user, status=NotificationStatus.PENDING, lane="urgent")
    OutboxEntry.objects.create(notification=urgent, lane="urgent")
    publisher = BatchPublisher()
    try:
        # Room for 4 this round: the urgent one, due last, is among them.
        published = outbox_relay_once(publisher=publisher, batch=4)
        urgent_batches = _taken(Channel.EMAIL.lane_queue(Lane.URGENT))
        bulk_batches = _taken(Channel.EMAIL.lane_queue(Lane.BULK))
        normal_batches = _taken(Channel.EMAIL.queue)
    finally:
        publisher.close()
        purge_queues()

    assert published == 4
    assert urgent_batches == [[str(urgent.id)]]
    assert bulk_batches == [[str(n.id) for n in bulk[:3]]]
    assert normal_batches == []
    assert OutboxEntry.objects.count() == 3


def test_the_worker_pools_serve_their_lanes(monkeypatch):
    started = []
    monkeypatch.setattr("os.execv", lambda path, argv: started.append(argv))

    call_command("run_worker", "email")
    call_command("run_worker", "email", "--urgent", "--concurrency", "3")

    main, urgent = started
    assert main == worker_argv("email", urgent=False, concurrency=settings.EMAIL_WORKER_CONCURRENCY)
    assert main[main.index("--queues") + 1] == "email.queue,email.bulk.queue"
    assert urgent[urgent.index("--queues") + 1] == "email.urgent.queue"
    assert urgent[urgent.index("--concurrency") + 1] == "3"
    assert urgent[urgent.index("--hostname") + 1] == "email-urgent@%h"
