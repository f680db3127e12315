"""Retention: what ended long ago is deleted, in batches, so the tables stay bounded.

Pruned once older than the cut-off (by when they were created): notifications in an end status (sent,
delivered, failed, skipped, cancelled, expired) with their delivery attempts, status webhook events that
ended (delivered, failed) with their attempts, and finished broadcasts none of whose notifications is
left. Notifications still on their way (scheduled, pending, queued, sending) are never pruned, however
old. Each batch is one statement in its own transaction, taking rows with SKIP LOCKED, so no lock is
held for long and the API and the workers go on beside it.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from notifications.models import (
    Broadcast,
    BroadcastStatus,
    DeliveryAttempt,
    Notification,
    NotificationStatus,
    OutboxEntry,
    WebhookAttempt,
    WebhookEvent,
    WebhookEventState,
)
from notifications.statuses import CLAIMABLE_STATUSES

PRUNABLE_STATUSES = sorted(str(status) for status in set(NotificationStatus) - CLAIMABLE_STATUSES)

_NOTIFICATIONS = f"""
WITH doomed AS (
    SELECT id FROM {Notification._meta.db_table}
     WHERE created_at < %(cutoff)s AND status = ANY(%(statuses)s)
     LIMIT %(batch)s
     FOR UPDATE SKIP LOCKED
), attempts AS (
    DELETE FROM {DeliveryAttempt._meta.db_table} a USING doomed d WHERE a.notification_id = d.id
), outbox AS (
    DELETE FROM {OutboxEntry._meta.db_table} o USING doomed d WHERE o.notification_id = d.id
)
DELETE FROM {Notification._meta.db_table} n USING doomed d WHERE n.id = d.id
"""  # noqa: S608 - table names come from the models, values are parameters

_WEBHOOK_EVENTS = f"""
WITH doomed AS (
    SELECT id FROM {WebhookEvent._meta.db_table}
     WHERE created_at < %(cutoff)s AND state = ANY(%(states)s)
     LIMIT %(batch)s
     FOR UPDATE SKIP LOCKED
), attempts AS (
    DELETE FROM {WebhookAttempt._meta.db_table} a USING doomed d WHERE a.event_id = d.id
)
DELETE FROM {WebhookEvent._meta.db_table} e USING doomed d WHERE e.id = d.id
"""  # noqa: S608

_BROADCASTS = f"""
DELETE FROM {Broadcast._meta.db_table} b
 WHERE b.id IN (
     SELECT id FROM {Broadcast._meta.db_table} x
      WHERE x.created_at < %(cutoff)s AND x.status = ANY(%(finished)s)
        AND NOT EXISTS (SELECT 1 FROM {Notification._meta.db_table} n WHERE n.broadcast_id = x.id)
      LIMIT %(batch)s
      FOR UPDATE SKIP LOCKED
 )
"""  # noqa: S608

_COUNTS = {
    "notifications": f"SELECT count(*) FROM {Notification._meta.db_table} "  # noqa: S608
    "WHERE created_at < %(cutoff)s AND status = ANY(%(statuses)s)",
    "webhook_events": f"SELECT count(*) FROM {WebhookEvent._meta.db_table} "  # noqa: S608
    "WHERE created_at < %(cutoff)s AND state = ANY(%(states)s)",
    "broadcasts": f"SELECT count(*) FROM {Broadcast._meta.db_table} x "  # noqa: S608
    "WHERE x.created_at < %(cutoff)s AND x.status = ANY(%(finished)s)",
}


@dataclass
class PruneReport:
    cutoff: datetime
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTS, 0))
    batches: int = 0
    dry_run: bool = False
    complete: bool = True


def retention_prune(
    *,
    cutoff: datetime,
    batch_size: int,
    dry_run: bool = False,
    on_batch: Callable[[str, int], None] | None = None,
    max_seconds: float | None = None,
) -> PruneReport:
    """Deletes what ended before `cutoff`, `batch_size` rows a transaction; with `dry_run`, counts what
    would go. `on_batch(kind, rows)` is told after each batch (a progress bar). With `max_seconds`, no
    batch starts after that long (`report.complete` is then False; the next run goes on)."""
    deadline = time.monotonic() + max_seconds if max_seconds is not None else None
    parameters: dict[str, Any] = {
        "cutoff": cutoff,
        "batch": batch_size,
        "statuses": PRUNABLE_STATUSES,
        "states": [WebhookEventState.DELIVERED.value, WebhookEventState.FAILED.value],
        "finished": [BroadcastStatus.COMPLETE.value, BroadcastStatus.CANCELLED.value],
    }
    report = PruneReport(cutoff=cutoff, dry_run=dry_run)
    if dry_run:
        with connection.cursor() as cursor:
            for kind, query in _COUNTS.items():
                cursor.execute(query, parameters)
                report.deleted[kind] = cursor.fetchone()[0]
        return report
    # Notifications first: a broadcast goes once none of its notifications is left.
    for kind, statement in (("notifications", _NOTIFICATIONS), ("webhook_events", _WEBHOOK_EVENTS),
                            ("broadcasts", _BROADCASTS)):  # fmt: skip
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                report.complete = False
                return report
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement, parameters)
                rows = cursor.rowcount
            if rows <= 0:
                break
            report.deleted[kind] += rows
            report.batches += 1
            if on_batch is not None:
                on_batch(kind, rows)
            if rows < batch_size:
                break
    return report
