"""Thin Celery tasks: a message carries a batch of notification ids of one channel (a single send is a
batch of one; a bare id, as older messages carry, is one too). The task calls the delivery service,
publishes a dead letter for each notification the batch ended `failed`, and returns, which acknowledges
the message. Retries and deferrals do not come back through Celery: the service puts them into the outbox,
due after their backoff.

A message that comes back after its worker died (RabbitMQ's x-delivery-count) is split in halves, down
to single ids, so one notification that kills its worker cannot hold up the rest of its batch; a single
one that killed its worker BROKER_DELIVERY_LIMIT times ends `failed` as poison.
"""

import logging
import os
import time
from datetime import UTC, datetime

from celery import Task, shared_task
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection

from notifications.channels import (
    HOUSEKEEPING_TASK_NAME,
    QUEUE_SAMPLE_TASK_NAME,
    WEBHOOK_TASK_NAME,
    Channel,
    lane_of_routing_key,
)
from notifications.delivery import BatchReport, delivery_batch_send
from notifications.services.housekeeping import housekeeping_run
from notifications.services.publisher import BatchPublisher, OutgoingTask
from notifications.services.trends import queue_depths_sample
from notifications.webhooks.delivery import webhook_events_deliver
from notifier.logging import correlation_id_set

logger = logging.getLogger(__name__)

# A batch handed back because the database was unreachable is published again after this pause.
DATABASE_RETRY_PAUSE_SECONDS = 2.0
# Headers of the dead letters this worker publishes (RabbitMQ's own carry x-death instead).
DEAD_LETTER_REASON_HEADER = "x-notifier-reason"
DEAD_LETTER_TIME_HEADER = "x-notifier-died-at"

_publisher: BatchPublisher | None = None


def _publish(tasks: list[OutgoingTask]) -> None:
    """Publishes with confirms on this process's own connection (opened after the pool's fork)."""
    global _publisher
    if _publisher is None:
        _publisher = BatchPublisher()
    _publisher.publish(tasks)


def _connection_drop(exc: Exception, consequence: str) -> None:
    """The database went away under a task: its connection is closed, so the process's next task opens a
    new one (Celery reuses a connection for WORKER_DB_REUSE_MAX tasks without looking at it)."""
    connection.close()
    logger.warning("database unavailable", extra={"error": str(exc), "consequence": consequence})


def _ids(notification_ids: list[str] | str) -> list[str]:
    return [notification_ids] if isinstance(notification_ids, str) else [str(i) for i in notification_ids]


def _dead_letters(channel: str, report: BatchReport) -> list[OutgoingTask]:
    died_at = datetime.now(UTC).isoformat()
    return [
        OutgoingTask(
            channel=channel,
            notification_ids=(failure.notification_id,),
            correlation_id=failure.correlation_id,
            headers={DEAD_LETTER_REASON_HEADER: failure.reason[:1000], DEAD_LETTER_TIME_HEADER: died_at},
            dead_letter=True,
        )
        for failure in report.failed
    ]


def _deliver(task: Task, notification_ids: list[str] | str, channel: str) -> str:
    ids = _ids(notification_ids)
    correlation_id_set(getattr(task.request, "x_correlation_id", None) or None)
    # Set by RabbitMQ on quorum queues: how often this message was handed out and not acked.
    delivery_count = int(vars(task.request).get("x-delivery-count") or 0)
    # What this worker publishes for the batch goes back to the lane it came from.
    lane = lane_of_routing_key((task.request.delivery_info or {}).get("routing_key") or "")
    if delivery_count and len(ids) > 1:
        middle = len(ids) // 2
        _publish(
            [
                OutgoingTask(channel=channel, lane=lane, notification_ids=tuple(half))
                for half in (ids[:middle], ids[middle:])
            ]
        )
        logger.warning(
            "batch split: its worker died", extra={"notifications": len(ids), "deliveries": delivery_count}
        )
        return "split"
    try:
        report = delivery_batch_send(
            notification_ids=ids,
            channel=channel,
            worker=f"{task.request.hostname}:{os.getpid()}",
            poison=delivery_count >= settings.BROKER_DELIVERY_LIMIT,
        )
    except (OperationalError, InterfaceError, IntegrityError) as exc:
        # The database is unreachable (or a notification vanished mid-batch, its user deleted): nothing
        # of the rest was recorded. Hand the batch back as a new message after a pause, on a new
        # connection; the claim skips whatever was recorded, and a vanished notification is not claimed.
        connection.close()
        logger.warning("batch handed back", extra={"error": str(exc), "notifications": len(ids)})
        time.sleep(DATABASE_RETRY_PAUSE_SECONDS)
        _publish([OutgoingTask(channel=channel, lane=lane, notification_ids=tuple(ids))])
        return "handed back"
    # Published (and confirmed) before the message is acknowledged: a crash here publishes them again,
    # and the DLQ tools are safe with a repeated letter.
    _publish(_dead_letters(channel, report))
    return (
        f"sent={report.sent} skipped={report.skipped} failed={len(report.failed)} "
        f"deferred={report.deferred} already_done={report.already_done}"
    )


@shared_task(bind=True, name=Channel.EMAIL.task_name, acks_late=True)
def deliver_email(self: Task, notification_ids: list[str] | str) -> str:
    return _deliver(self, notification_ids, Channel.EMAIL)


@shared_task(bind=True, name=Channel.PUSH.task_name, acks_late=True)
def deliver_push(self: Task, notification_ids: list[str] | str) -> str:
    return _deliver(self, notification_ids, Channel.PUSH)


@shared_task(bind=True, name=WEBHOOK_TASK_NAME, acks_late=True)
def deliver_webhooks(self: Task, event_ids: list[int], endpoint_id: int) -> str:
    """Status events to one endpoint. The events' lease decides who sends: a repeated message does nothing
    while another worker holds them, and a message lost with its worker is published again by the relay."""
    try:
        report = webhook_events_deliver(
            event_ids=[int(i) for i in event_ids],
            endpoint_id=int(endpoint_id),
            worker=f"{self.request.hostname}:{os.getpid()}",
        )
    except (OperationalError, InterfaceError) as exc:
        _connection_drop(exc, "webhook events left for the relay to publish again")
        return "database unavailable"
    return (
        f"delivered={report.delivered} retried={report.retried} failed={report.failed} "
        f"skipped={report.skipped}"
    )


@shared_task(name=HOUSEKEEPING_TASK_NAME, acks_late=True)
def housekeeping() -> str:
    """Sent by the scheduler: retention and expired tokens and sessions, bounded in time (a backlog is
    worked off over several runs). Safe to run twice, or side by side: rows are taken with SKIP LOCKED."""
    try:
        report = housekeeping_run(max_seconds=settings.HOUSEKEEPING_MAX_SECONDS)
    except (OperationalError, InterfaceError) as exc:
        _connection_drop(exc, "housekeeping left for the next run")
        return "database unavailable"
    if report is None:
        return "retention off"
    return f"pruned {report.deleted} in {report.batches} batches{'' if report.complete else ' (more left)'}"


@shared_task(name=QUEUE_SAMPLE_TASK_NAME, acks_late=True, expires=60)
def sample_queue_depths() -> str:
    """Sent by the scheduler: one sample of the queue depths for the operations page's trend (Redis)."""
    queue_depths_sample()
    return "sampled"
