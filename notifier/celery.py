"""The Celery app and the broker topology, declared here and nowhere else.

    notifications (topic) --email.urgent--> email.urgent.queue (quorum) --+
                          --email---------> email.queue        (quorum) --+--rejected/poison-->
                          --email.bulk----> email.bulk.queue   (quorum) --+   notifications.dlx --> email.dlq
                          --push.urgent, push, push.bulk--> push.urgent.queue, push.queue, push.bulk.queue
                                                          --rejected/poison--> notifications.dlx --> push.dlq
                          --webhook--> webhook.queue (quorum; status events to callers' endpoints)
                          --housekeeping--> housekeeping.queue (quorum; the scheduler's retention runs)

One queue per channel and lane (notifications/channels.py), each with the same dead-lettering.

Retries and deferrals wait in the outbox (PostgreSQL), not in the broker; no task uses a countdown. So
the workers run without Celery's delayed-delivery bootstep (`Consumer` below): it declared kombu's 28
`celery_delayed_*` queues, and on every reconnect tried each listed broker URL on its own, with pauses,
before the consumer started (a stall of ~18 s when a cluster node died). `setup_broker` removes those
queues where an older version left them.

In a cluster, every quorum queue is placed by RabbitMQ's balanced leader locator (leaders spread across
the nodes, whichever node declared them) on BROKER_QUORUM_GROUP_SIZE nodes (RabbitMQ takes all nodes when
there are fewer).
"""

import logging
import os
import sys
from typing import Any

import amqp.exceptions
from celery import Celery, signals
from celery.worker import consumer as celery_consumer
from kombu import Connection, Exchange, Queue
from kombu.transport.native_delayed_delivery import (
    CELERY_DELAYED_DELIVERY_EXCHANGE,
    MAX_NUMBER_OF_BITS_TO_USE,
    level_name,
)

from notifications.broker.connection import broker_connect, broker_connection
from notifications.channels import (
    CHANNELS,
    HOUSEKEEPING_QUEUE,
    HOUSEKEEPING_ROUTING_KEY,
    HOUSEKEEPING_TASK_NAME,
    LANES,
    QUEUE_SAMPLE_TASK_NAME,
    WEBHOOK_QUEUE,
    WEBHOOK_ROUTING_KEY,
    WEBHOOK_TASK_NAME,
    Channel,
)
from notifier.worker_metrics import worker_metrics_connect

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notifier.settings")

EXCHANGE_NAME = "notifications"
DLX_NAME = "notifications.dlx"


logger = logging.getLogger(__name__)

# What kombu's native delayed delivery declared, by its own names.
DELAYED_QUEUES = [level_name(level) for level in range(MAX_NUMBER_OF_BITS_TO_USE)]
DELAYED_EXCHANGES = [*DELAYED_QUEUES, CELERY_DELAYED_DELIVERY_EXCHANGE]
# Declaring the topology waits at most this long for each answer of the broker.
TOPOLOGY_TIMEOUT_SECONDS = 10.0


def quorum_arguments(*, group_size: int) -> dict[str, Any]:
    """Placement of every quorum queue: leaders spread across the nodes, replicas on `group_size` nodes."""
    return {
        "x-queue-type": "quorum",
        "x-queue-leader-locator": "balanced",
        "x-quorum-initial-group-size": group_size,
    }


def build_topology(
    *, delivery_limit: int, group_size: int = 3
) -> tuple[Exchange, Exchange, list[Queue], list[Queue]]:
    """The exchanges and queues. The queues are declared by `topology_declare` only (`no_declare`): a
    worker consuming them never redeclares one, so a queue an older version declared with other
    arguments is used as it is instead of failing the worker with PRECONDITION_FAILED."""
    placement = quorum_arguments(group_size=group_size)
    exchange = Exchange(EXCHANGE_NAME, type="topic", durable=True)
    dlx = Exchange(DLX_NAME, type="topic", durable=True)
    queues = [
        Queue(
            channel.lane_queue(lane),
            exchange=exchange,
            routing_key=channel.routing_key(lane),
            durable=True,
            no_declare=True,
            queue_arguments={
                **placement,
                "x-dead-letter-exchange": DLX_NAME,
                "x-dead-letter-routing-key": channel.dlq,
                # At-least-once dead-lettering needs reject-publish overflow (RabbitMQ ≥ 3.10).
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
                "x-delivery-limit": delivery_limit,
            },
        )
        for channel in CHANNELS
        for lane in LANES
    ]
    # The webhook pool's queue, and the scheduler's housekeeping queue it also serves. No dead-lettering:
    # PostgreSQL holds every webhook event (the relay publishes one again once its lease ran out), and a
    # housekeeping run lost is done by the next.
    queues += [
        Queue(
            name,
            exchange=exchange,
            routing_key=routing_key,
            durable=True,
            no_declare=True,
            queue_arguments={
                **placement,
                "x-overflow": "reject-publish",
                "x-delivery-limit": delivery_limit,
            },
        )
        for name, routing_key in (
            (WEBHOOK_QUEUE, WEBHOOK_ROUTING_KEY),
            (HOUSEKEEPING_QUEUE, HOUSEKEEPING_ROUTING_KEY),
        )
    ]
    dead_letter_queues = [
        Queue(
            channel.dlq,
            exchange=dlx,
            routing_key=channel.dlq,
            durable=True,
            no_declare=True,
            queue_arguments=placement,
        )
        for channel in CHANNELS
    ]
    return exchange, dlx, queues, dead_letter_queues


def topology_declare(*, broker_url: str, delivery_limit: int, group_size: int = 3) -> list[str]:
    """Declares the exchanges, queues and dead-letter queues; idempotent. Returns the names of the queues.

    Dead letters sent to an exchange that does not exist are dropped, so this runs before any worker.
    `broker_url` may list a cluster's nodes separated by `;`: a node that is down is skipped. A queue
    that exists with other arguments (declared by an older version: no leader locator or group size) is
    kept as it is, and said so in the log; RabbitMQ cannot change a queue's arguments in place.
    """
    exchange, dlx, queues, dead_letter_queues = build_topology(
        delivery_limit=delivery_limit, group_size=group_size
    )
    with broker_connection(timeout=TOPOLOGY_TIMEOUT_SECONDS, url=broker_url) as connection:
        broker_connect(connection)
        channel = connection.channel()
        exchange.bind(channel).declare()
        dlx.bind(channel).declare()
        for queue in [*dead_letter_queues, *queues]:
            # queue_declare, not declare: the queues are `no_declare` for the workers' consumers.
            try:
                queue.bind(channel).queue_declare()
            except amqp.exceptions.PreconditionFailed as exc:
                # The channel is closed by the refusal: a new one checks that the queue is there.
                channel = connection.channel()
                queue.bind(channel).queue_declare(passive=True)
                logger.warning(
                    "queue %s kept with the arguments it was declared with (%s); to apply the new ones, "
                    "drain and delete it, then run setup_broker",
                    queue.name,
                    exc.reply_text,
                    extra={"queue": queue.name},
                )
            queue.bind(channel).queue_bind()
    return [queue.name for queue in [*queues, *dead_letter_queues]]


def delayed_topology_remove(*, broker_url: str) -> None:
    """Deletes kombu's celery_delayed_* queues where they are empty, then their exchanges; `setup_broker`
    runs it (a worker's start does not: unused, they cost nothing but their replicas). A queue that still
    holds a delayed message (sent by an older version) is left, with its exchanges, to deliver it.
    (Quorum queues refuse a delete with `if-empty`: the count is read first. Nothing but an older
    version's countdown publishes to them.)"""
    with broker_connection(timeout=TOPOLOGY_TIMEOUT_SECONDS, url=broker_url) as connection:
        broker_connect(connection)
        _delayed_queues_remove(connection)


def _delayed_queues_remove(connection: Connection) -> None:
    left = []
    channel: Any = connection.channel()
    for name in DELAYED_QUEUES:
        try:
            _, count, _ = channel.queue_declare(name, passive=True)
        except amqp.exceptions.NotFound:
            channel = connection.channel()  # the refusal closed the channel
            continue
        if count:
            left.append(name)
        else:
            channel.queue_delete(name)
    if left:
        logger.warning("delayed-delivery queues still hold messages, kept: %s", ", ".join(left))
        return
    for name in DELAYED_EXCHANGES:
        channel.exchange_delete(name)


class Consumer(celery_consumer.Consumer):
    """Celery's consumer without the delayed-delivery bootstep (see the module's docstring)."""

    class Blueprint(celery_consumer.Consumer.Blueprint):  # type: ignore[misc,valid-type]
        default_steps = [
            step
            for step in celery_consumer.Consumer.Blueprint.default_steps
            if not step.endswith(":DelayedDelivery")
        ]


app = Celery("notifier")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.on_after_configure.connect
def _apply_topology(sender: Celery, source: Any, **kwargs: Any) -> None:
    """Queues and routes, applied once Django's settings are loaded (they give the delivery limit)."""
    from django.conf import settings

    exchange, _, queues, _ = build_topology(
        delivery_limit=settings.BROKER_DELIVERY_LIMIT, group_size=settings.BROKER_QUORUM_GROUP_SIZE
    )
    source.task_queues = queues
    source.task_default_exchange = exchange.name
    source.task_default_exchange_type = "topic"
    source.task_default_queue = Channel.EMAIL.queue
    source.task_default_routing_key = Channel.EMAIL.value
    source.task_routes = {
        **{channel.task_name: {"queue": channel.queue, "routing_key": channel.value} for channel in CHANNELS},
        WEBHOOK_TASK_NAME: {"queue": WEBHOOK_QUEUE, "routing_key": WEBHOOK_ROUTING_KEY},
        HOUSEKEEPING_TASK_NAME: {"queue": HOUSEKEEPING_QUEUE, "routing_key": HOUSEKEEPING_ROUTING_KEY},
        QUEUE_SAMPLE_TASK_NAME: {"queue": HOUSEKEEPING_QUEUE, "routing_key": HOUSEKEEPING_ROUTING_KEY},
    }


@signals.setup_logging.connect
def _logging_as_django_configures_it(**kwargs: Any) -> None:
    """A receiver here keeps Celery from installing its own plain-text handlers: workers and beat write
    the same JSON lines as every other process (notifier/settings/logging.py)."""
    from django.conf import settings

    from notifier.logging import logging_configure

    logging_configure(settings.LOGGING)
    if not sys.stdout.isatty():
        # The worker's shutdown notices ("worker: Warm shutdown (MainProcess)") are written straight to
        # stdout by celery.apps.worker.safe_say; off a terminal they become log lines like the rest.
        from celery.apps import worker as celery_worker

        celery_worker.safe_say = _say_as_log_line  # type: ignore[attr-defined]


def _say_as_log_line(msg: str, f: Any = None) -> None:
    logging.getLogger("celery.apps.worker").warning(msg.strip())


@signals.worker_init.connect
def _declare_topology_at_start(**kwargs: Any) -> None:
    from django.conf import settings

    topology_declare(
        broker_url=settings.CELERY_BROKER_URL,
        delivery_limit=settings.BROKER_DELIVERY_LIMIT,
        group_size=settings.BROKER_QUORUM_GROUP_SIZE,
    )


# Each worker serves its pool's metrics on WORKER_METRICS_PORT (notifier/worker_metrics.py).
worker_metrics_connect()

app.autodiscover_tasks()
