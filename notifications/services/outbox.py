"""The durable hand-off to the broker: publish with publisher confirms, and relay what was left behind.

The accept transaction writes the notification and its outbox entry together. After commit the task
message is published and, once the broker confirms it, the entry is deleted and the notification
marked queued in one statement. A process that dies anywhere in between leaves the entry, and the
relay publishes it again; a message published twice is sent once thanks to the worker's claim.
"""

import logging
import time
import uuid
from datetime import timedelta

import amqp.exceptions
import kombu.exceptions
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from notifications.models import Notification, NotificationStatus, OutboxEntry
from notifier.celery import app as celery_app

logger = logging.getLogger(__name__)

PUBLISH_ERRORS = (
    kombu.exceptions.KombuError,
    amqp.exceptions.AMQPError,
    amqp.exceptions.MessageNacked,
    OSError,
)

# After a failed publish, this process leaves publishing to the relay for a while, so that requests
# keep answering at once while the broker is down instead of each waiting for a connect timeout.
BROKER_BACKOFF_SECONDS = 5.0
_broker_down_until = 0.0


def task_name_for(channel: str) -> str:
    return f"notifications.deliver_{channel}"


def notification_publish(*, notification_id: uuid.UUID | str, channel: str, correlation_id: str) -> bool:
    """Publishes the delivery task; True once the broker confirmed it, False if it could not."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return False
    timeout = settings.PUBLISH_TIMEOUT_SECONDS
    try:
        celery_app.send_task(
            task_name_for(channel),
            args=[str(notification_id)],
            headers={"x_correlation_id": correlation_id},
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0},
            timeout=timeout,
            confirm_timeout=timeout,
        )
    except PUBLISH_ERRORS as exc:
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning(
            "publish failed; the outbox relay will retry",
            extra={"notification_id": str(notification_id), "error": repr(exc)},
        )
        return False
    return True


def notification_mark_queued(*, notification_ids: list[str]) -> None:
    """Deletes the outbox entries and moves still-pending notifications to queued, in one statement."""
    if not notification_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH removed AS (
                DELETE FROM {OutboxEntry._meta.db_table} WHERE notification_id = ANY(%s::uuid[])
            )
            UPDATE {Notification._meta.db_table}
               SET status = %s, queued_at = now(), updated_at = now()
             WHERE id = ANY(%s::uuid[]) AND status = %s
            """,  # noqa: S608 - table names come from the models, values are parameters
            [notification_ids, NotificationStatus.QUEUED, notification_ids, NotificationStatus.PENDING],
        )


def notification_hand_off(*, notification: Notification) -> bool:
    """Publishes a committed pending notification; on confirm, marks it queued. True when queued."""
    published = notification_publish(
        notification_id=notification.id,
        channel=notification.notification_type,
        correlation_id=notification.correlation_id,
    )
    if published:
        notification_mark_queued(notification_ids=[str(notification.id)])
    return published


def outbox_relay_once(*, grace_seconds: float | None = None, batch: int | None = None) -> int:
    """Publishes outbox entries older than the grace period; returns how many were confirmed.

    Rows are locked with SKIP LOCKED, so several relays can run side by side without double work.
    """
    grace = settings.OUTBOX_RELAY_GRACE_SECONDS if grace_seconds is None else grace_seconds
    limit = batch or settings.OUTBOX_RELAY_BATCH
    cutoff = timezone.now() - timedelta(seconds=grace)
    confirmed: list[str] = []
    with transaction.atomic():
        entries = list(
            OutboxEntry.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("notification")
            .filter(created_at__lte=cutoff)
            .order_by("created_at")[:limit]
        )
        for entry in entries:
            notification = entry.notification
            if notification.status != NotificationStatus.PENDING or notification_publish(
                notification_id=notification.id,
                channel=notification.notification_type,
                correlation_id=notification.correlation_id,
            ):
                confirmed.append(str(notification.id))
                continue
            OutboxEntry.objects.filter(pk=entry.pk).update(
                publish_attempts=entry.publish_attempts + 1, last_error="broker unavailable"
            )
            break  # the broker is down: leave the rest for the next round
        notification_mark_queued(notification_ids=confirmed)
    if confirmed:
        logger.info("outbox relay published", extra={"count": len(confirmed)})
    return len(confirmed)


def outbox_backlog() -> int:
    return OutboxEntry.objects.count()
