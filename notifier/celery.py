"""The Celery app and the broker topology, declared here and nowhere else.

    notifications (topic) --email.urgent--> email.urgent.queue (quorum) --+
                          --email---------> email.queue        (quorum) --+--rejected/poison-->
                          --email.bulk----> email.bulk.queue   (quorum) --+   notifications.dlx --> email.dlq
                          --push.urgent, push, push.bulk--> push.urgent.queue, push.queue, push.bulk.queue
                                                          --rejected/poison--> notifications.dlx --> push.dlq
                          --webhook--> webhook.queue (quorum; status events to callers' endpoints)
                          --housekeeping--> housekeeping.queue (quorum; the scheduler's retention runs)

One queue per channel and lane (notifications/channels.py), each with the same dead-lettering.

Retries and deferrals wait in the outbox (PostgreSQL), not in the broker; no task uses a countdown.
Celery's delayed-delivery bootstep still sets up kombu's celery_delayed_* topology for quorum queues,
so it is declared here too, and the main exchange stays a topic exchange.
"""

import logging
import os
import sys
from typing import Any

from celery import Celery, signals
from kombu import Connection, Exchange, Queue

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


def build_topology(*, delivery_limit: int) -> tuple[Exchange, Exchange, list[Queue], list[Queue]]:
    exchange = Exchange(EXCHANGE_NAME, type="topic", durable=True)
    dlx = Exchange(DLX_NAME, type="topic", durable=True)
    queues = [
        Queue(
            channel.lane_queue(lane),
            exchange=exchange,
            routing_key=channel.routing_key(lane),
            durable=True,
            queue_arguments={
                "x-queue-type": "quorum",
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
            queue_arguments={
                "x-queue-type": "quorum",
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
            queue_arguments={"x-queue-type": "quorum"},
        )
        for channel in CHANNELS
    ]
    return exchange, dlx, queues, dead_letter_queues


def topology_declare(*, broker_url: str, delivery_limit: int) -> list[str]:
    """Declares exchanges, queues, dead-letter queues and the delayed-delivery bindings; idempotent.

    Dead letters sent to an exchange that does not exist are dropped, so this runs before any worker.
    Returns the names of the queues declared.
    """
    from kombu.transport.native_delayed_delivery import (
        bind_queue_to_native_delayed_delivery_exchange,
        declare_native_delayed_delivery_exchanges_and_queues,
    )

    exchange, dlx, queues, dead_letter_queues = build_topology(delivery_limit=delivery_limit)
    with Connection(broker_url, connect_timeout=10) as connection:
        channel = connection.channel()
        exchange.bind(channel).declare()
        dlx.bind(channel).declare()
        for queue in [*dead_letter_queues, *queues]:
            queue.bind(channel).declare()
        declare_native_delayed_delivery_exchanges_and_queues(connection, "quorum")
        for queue in queues:
            bind_queue_to_native_delayed_delivery_exchange(connection, queue)
    return [queue.name for queue in [*queues, *dead_letter_queues]]


app = Celery("notifier")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.on_after_configure.connect
def _apply_topology(sender: Celery, source: Any, **kwargs: Any) -> None:
    """Queues and routes, applied once Django's settings are loaded (they give the delivery limit)."""
    from django.conf import settings

    exchange, _, queues, _ = build_topology(delivery_limit=settings.BROKER_DELIVERY_LIMIT)
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

    topology_declare(broker_url=settings.CELERY_BROKER_URL, delivery_limit=settings.BROKER_DELIVERY_LIMIT)


# Each worker serves its pool's metrics on WORKER_METRICS_PORT (notifier/worker_metrics.py).
worker_metrics_connect()

app.autodiscover_tasks()
