"""The durable hand-off to the broker: the transactional outbox and its relay.

PostgreSQL says what is due. The accept transaction writes the notification and its outbox entry
together, so an accepted notification can never be lost between the database and the broker; retries,
deferrals (an open breaker, a busy notification) and replays write an entry due after their backoff.
The relay takes the due urgent entries first, groups the due entries by channel and lane (each lane has its
queue) into task messages of up to DELIVERY_BATCH_SIZE ids, publishes
them with publisher confirms, then deletes the entries and marks their notifications queued in one
statement. A relay that dies anywhere in between leaves the entries, and the next round publishes them
again; a message published twice is sent once thanks to the worker's claim. Requests never wait for the
broker, so a broker outage cannot hold them up.

The relay also sweeps notifications that stopped moving (queued or sending for DELIVERY_STALL_SECONDS,
held by no worker) back into the outbox, so a message a dead worker process took with it cannot leave
its notifications stuck.
"""

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from notifications.channels import Lane
from notifications.models import Notification, NotificationStatus, OutboxEntry
from notifications.services.publisher import BatchPublisher, OutgoingTask, PublishFailed
from notifications.statuses import PUBLISHABLE_STATUSES

logger = logging.getLogger(__name__)


def notification_mark_queued(*, notification_ids: list[str]) -> None:
    """Deletes the outbox entries and marks their scheduled, pending or queued notifications queued as of
    now (the stall sweep counts from then), in one statement."""
    if not notification_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH removed AS (
                DELETE FROM {OutboxEntry._meta.db_table} WHERE notification_id = ANY(%s::uuid[])
            )
            UPDATE {Notification._meta.db_table}
               SET status = %s, queued_at = COALESCE(queued_at, now()), updated_at = now()
             WHERE id = ANY(%s::uuid[]) AND status IN (%s, %s, %s)
            """,  # noqa: S608 - table names come from the models, values are parameters
            [
                notification_ids, NotificationStatus.QUEUED, notification_ids,
                NotificationStatus.SCHEDULED, NotificationStatus.PENDING, NotificationStatus.QUEUED,
            ],
        )  # fmt: skip


def outbox_enqueue(*, notification_id: uuid.UUID) -> None:
    """Adds an outbox entry due now for a notification (inside the caller's transaction)."""
    outbox_defer(due={str(notification_id): timezone.now()})


def outbox_defer(*, due: dict[str, datetime]) -> None:
    """Puts notifications back into the outbox, each due at its time, in one statement (an existing entry
    keeps the earlier of the two times)."""
    if not due:
        return
    ids, times, table = list(due), list(due.values()), OutboxEntry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (notification_id, created_at, available_at, publish_attempts, last_error,
                                 lane)
            SELECT u.id, now(), u.at, 0, '', n.lane
              FROM unnest(%s::uuid[], %s::timestamptz[]) AS u(id, at)
              JOIN {Notification._meta.db_table} n ON n.id = u.id
            ON CONFLICT (notification_id)
            DO UPDATE SET available_at = LEAST({table}.available_at, EXCLUDED.available_at)
            """,  # noqa: S608 - table names come from the models, values are parameters
            [ids, times],
        )


def _batches(rows: list[tuple[str, str, str, str]]) -> list[OutgoingTask]:
    """Due entries grouped by channel and lane into messages of at most DELIVERY_BATCH_SIZE ids, in due
    order; urgent messages first."""
    size = max(settings.DELIVERY_BATCH_SIZE, 1)
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for notification_id, channel, lane, correlation_id in rows:
        groups.setdefault((channel, lane), []).append((notification_id, correlation_id))
    tasks = []
    for (channel, lane), entries in sorted(groups.items(), key=lambda group: group[0][1] != Lane.URGENT):
        for start in range(0, len(entries), size):
            chunk = entries[start : start + size]
            tasks.append(
                OutgoingTask(
                    channel=channel,
                    lane=lane,
                    notification_ids=tuple(nid for nid, _ in chunk),
                    # A batch of one keeps its notification's correlation id on the message.
                    correlation_id=chunk[0][1] if len(chunk) == 1 else "",
                )
            )
    return tasks


_RELAY_COLUMNS = (
    "id", "notification_id", "notification__notification_type", "lane", "notification__correlation_id",
    "notification__status",
)  # fmt: skip


def _due_rows(limit: int) -> list[tuple[Any, ...]]:
    """The due entries to publish this round, locked (SKIP LOCKED), by due time. When more are due than
    one round takes, the urgent ones (a small partial index) come first; otherwise every due entry is in
    the one query already, so an idle relay's poll stays one index lookup."""
    due = OutboxEntry.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        available_at__lte=timezone.now()
    )
    rows = list(due.order_by("available_at").values_list(*_RELAY_COLUMNS)[:limit])
    if len(rows) < limit:
        return rows
    urgent = list(due.filter(lane=Lane.URGENT).order_by("available_at").values_list(*_RELAY_COLUMNS)[:limit])
    taken = {row[0] for row in urgent}
    # The first query may list some urgent ones too (this transaction holds their locks): once each.
    return urgent + [row for row in rows if row[0] not in taken][: limit - len(urgent)]


def outbox_relay_once(*, publisher: BatchPublisher, batch: int | None = None) -> int:
    """Publishes the due outbox entries (at most OUTBOX_RELAY_BATCH) as batch messages; returns how many
    notifications the broker confirmed.

    Rows are locked with SKIP LOCKED, so several relays can run side by side without double work.
    Raises PublishFailed when the broker did not confirm them all (the entries stay for the next round).
    """
    limit = batch or settings.OUTBOX_RELAY_BATCH
    with transaction.atomic():
        rows = _due_rows(limit)
        if not rows:
            return 0
        tasks = _batches(
            [
                (str(nid), channel, lane, correlation_id)
                for _, nid, channel, lane, correlation_id, status in rows
                # An entry of a notification that moved on (sent, failed, cancelled: a replay, a cancel
                # or a late worker raced the relay) is simply removed.
                if status in PUBLISHABLE_STATUSES
            ]
        )
        try:
            publisher.publish(tasks)
        except PublishFailed as exc:
            OutboxEntry.objects.filter(id__in=[row[0] for row in rows]).update(
                publish_attempts=F("publish_attempts") + 1, last_error=str(exc)[:1000]
            )
            raise
        notification_mark_queued(notification_ids=[str(row[1]) for row in rows])
    published = sum(len(task.notification_ids) for task in tasks)
    logger.info("outbox relay published", extra={"count": published, "messages": len(tasks)})
    return published


def outbox_sweep_stalled(*, channels_with_backlog: frozenset[str] = frozenset(), limit: int = 1000) -> int:
    """Puts notifications that stopped moving back into the outbox; returns how many.

    Stopped: `sending`, or `queued`, for DELIVERY_STALL_SECONDS, with no outbox entry, and no live claim
    (the worker's advisory lock is free: its holder died, or never took it). `queued` ones of a channel
    whose queue still has messages waiting are left alone: they are most likely among those messages.
    The claim keeps a late original message from sending any of them twice.
    """
    stalled_before = timezone.now() - timedelta(seconds=settings.DELIVERY_STALL_SECONDS)
    table, outbox = Notification._meta.db_table, OutboxEntry._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH candidates AS (
                SELECT n.id FROM {table} n
                 WHERE n.status IN (%s, %s) AND n.updated_at < %s
                   AND (n.status = %s OR NOT (n.notification_type = ANY(%s)))
                   AND NOT EXISTS (SELECT 1 FROM {outbox} o WHERE o.notification_id = n.id)
                 ORDER BY n.updated_at
                 LIMIT %s
                 FOR UPDATE OF n SKIP LOCKED
            ), free AS (
                -- Taking the advisory lock proves no live worker holds it; released just below.
                SELECT id FROM candidates WHERE pg_try_advisory_xact_lock(hashtextextended(id::text, 0))
            ), moved AS (
                UPDATE {table} n SET status = %s, updated_at = now(), claimed_by = ''
                  FROM free WHERE n.id = free.id
                RETURNING n.id, n.lane
            )
            INSERT INTO {outbox} (notification_id, created_at, available_at, publish_attempts, last_error,
                                  lane)
            SELECT id, now(), now(), 0, 'stalled: put back by the relay', lane FROM moved
            ON CONFLICT (notification_id) DO NOTHING
            """,  # noqa: S608 - table names come from the models, values are parameters
            [
                NotificationStatus.QUEUED, NotificationStatus.SENDING, stalled_before,
                NotificationStatus.SENDING, list(channels_with_backlog), limit, NotificationStatus.QUEUED,
            ],
        )  # fmt: skip
        swept = cursor.rowcount
    if swept:
        logger.warning("stalled notifications put back into the outbox", extra={"count": swept})
    return swept
