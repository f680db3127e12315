"""The durable hand-off to the broker: the transactional outbox and its relay.

The accept transaction writes the notification and its outbox entry together, so an accepted
notification can never be lost between the database and the broker. The relay publishes outbox
entries in batches with publisher confirms; once the broker confirmed a batch, its entries are deleted
and their notifications marked queued in one statement. A relay that dies anywhere in between leaves the
entries, and the next round publishes them again; a message published twice is sent once thanks to the
worker's claim. Requests never wait for the broker, so a broker outage cannot hold them up.
"""

import logging
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from notifications.models import Notification, NotificationStatus, OutboxEntry
from notifications.services.publisher import BatchPublisher, OutgoingTask, PublishFailed

logger = logging.getLogger(__name__)


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


def outbox_enqueue(*, notification_id: uuid.UUID) -> None:
    """Adds an outbox entry for a notification (inside the caller's transaction)."""
    OutboxEntry.objects.get_or_create(notification_id=notification_id)


def outbox_relay_once(*, publisher: BatchPublisher, batch: int | None = None) -> int:
    """Publishes one batch of outbox entries; returns how many the broker confirmed.

    Rows are locked with SKIP LOCKED, so several relays can run side by side without double work.
    Raises PublishFailed when the broker did not confirm the batch (the entries stay for the next round).
    """
    limit = batch or settings.OUTBOX_RELAY_BATCH
    with transaction.atomic():
        rows = list(
            OutboxEntry.objects.select_for_update(skip_locked=True, of=("self",))
            .order_by("created_at")
            .values_list(
                "id", "notification_id", "notification__notification_type", "notification__correlation_id",
                "notification__status",
            )[:limit]
        )  # fmt: skip
        if not rows:
            return 0
        tasks = [
            OutgoingTask(notification_id=str(nid), channel=channel, correlation_id=correlation_id)
            for _, nid, channel, correlation_id, status in rows
            if status == NotificationStatus.PENDING
        ]
        try:
            publisher.publish(tasks)
        except PublishFailed as exc:
            OutboxEntry.objects.filter(id__in=[row[0] for row in rows]).update(
                publish_attempts=F("publish_attempts") + 1, last_error=str(exc)[:1000]
            )
            raise
        # Entries whose notification moved on (a replay raced us) are simply removed.
        notification_mark_queued(notification_ids=[str(row[1]) for row in rows])
    logger.info("outbox relay published", extra={"count": len(tasks)})
    return len(tasks)
