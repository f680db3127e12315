"""Cancelling what no provider has yet: one notification, or every recipient's of a broadcast.

A notification is cancellable while a worker could still claim it (CANCELLABLE_STATUSES) and no worker
holds its claim: the cancel takes the same advisory lock as the claim, inside its own transaction, so a
worker and a cancel never both win. A worker that claims after the cancel finds it `cancelled` (the claim
re-reads the status once the lock is its own); a cancel that meets a claim answers 409.

Lock order, so a cancel never waits in a circle with the relay: the broadcast's row (a fan-out chunk
holds it while it writes), then the outbox entries (the relay holds those it is publishing), then the
notifications.
"""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from notifications.metrics import notifications_cancelled
from notifications.models import Broadcast, BroadcastStatus, Notification, NotificationStatus, OutboxEntry
from notifications.statuses import CANCELLABLE_STATUSES
from notifier.api.errors import ApplicationError

logger = logging.getLogger(__name__)

_CANCELLABLE = [str(status) for status in CANCELLABLE_STATUSES]

# The outbox entries of the notifications about to be cancelled, removed first (see the module's doc).
_DELETE_OUTBOX = f"""
DELETE FROM {OutboxEntry._meta.db_table}
 WHERE notification_id IN (
     SELECT id FROM {Notification._meta.db_table} WHERE {{where}} AND status = ANY(%(cancellable)s)
 )
"""  # noqa: S608 - table names come from the models, values are parameters

# Rows a worker holds (its advisory lock is taken) are left alone: a provider may have them.
_CANCEL = f"""
UPDATE {Notification._meta.db_table}
   SET status = %(cancelled)s, cancelled_at = now(), cancelled_by = %(by)s, error = %(reason)s,
       updated_at = now()
 WHERE {{where}} AND status = ANY(%(cancellable)s)
   AND pg_try_advisory_xact_lock(hashtextextended(id::text, 0))
RETURNING id
"""  # noqa: S608 - table names come from the models, values are parameters


def _cancel_where(where: str, parameters: dict[str, Any], *, by: str) -> int:
    """Cancels the cancellable notifications matching `where`, inside the caller's transaction."""
    values: dict[str, Any] = {
        **parameters,
        "cancellable": _CANCELLABLE,
        "cancelled": NotificationStatus.CANCELLED.value,
        "by": by[:64],
        "reason": f"cancelled by {by}"[:1000],
    }
    with connection.cursor() as cursor:
        cursor.execute(_DELETE_OUTBOX.format(where=where), values)
        cursor.execute(_CANCEL.format(where=where), values)
        return cursor.rowcount


def notification_cancel(*, notification_id: uuid.UUID, by: str) -> Notification:
    """Cancels one notification; 404 when there is none, 409 with its status when it is past cancelling
    (a provider has it, or a worker is handing it to one right now)."""
    with transaction.atomic():
        cancelled = _cancel_where("id = %(id)s", {"id": notification_id}, by=by)
        notification = Notification.objects.filter(pk=notification_id).first()
        if notification is None:
            raise ApplicationError("Not found.", code="not_found", status=404)
        if not cancelled:
            # Nothing was changed: the outbox entry the statement removed comes back with the rollback.
            raise _not_cancellable(notification.status)
    notifications_cancelled(channel=notification.notification_type, amount=1)
    logger.info("notification cancelled", extra={"notification_id": str(notification_id), "by": by})
    return notification


def _not_cancellable(status: str) -> ApplicationError:
    if status in CANCELLABLE_STATUSES:
        message = "A worker is handing it to the provider right now; it can no longer be cancelled."
    else:
        message = f"A {status} notification can no longer be cancelled."
    return ApplicationError(message, code="not_cancellable", status=409, data={"status": str(status)})


@dataclass(frozen=True)
class BroadcastCancelResult:
    broadcast: Broadcast
    cancelled: int  # notifications cancelled by this call


def broadcast_cancel(*, broadcast_id: uuid.UUID, by: str) -> BroadcastCancelResult:
    """Stops the fan-out and cancels every recipient's notification that no provider has yet, in one
    transaction. 409 when the broadcast was cancelled before."""
    with transaction.atomic():
        # Waits for a fan-out chunk being written: once it commits, its notifications are seen below.
        broadcast = Broadcast.objects.select_for_update().filter(pk=broadcast_id).first()
        if broadcast is None:
            raise ApplicationError("Not found.", code="not_found", status=404)
        if broadcast.status == BroadcastStatus.CANCELLED:
            raise ApplicationError(
                "This broadcast was cancelled before.",
                code="not_cancellable",
                status=409,
                data={"status": str(broadcast.status)},
            )
        broadcast.status = BroadcastStatus.CANCELLED
        broadcast.cancelled_at, broadcast.cancelled_by = timezone.now(), by[:64]
        broadcast.save(update_fields=["status", "cancelled_at", "cancelled_by", "updated_at"])
        cancelled = _cancel_where("broadcast_id = %(broadcast)s", {"broadcast": broadcast.id}, by=by)
    notifications_cancelled(channel=broadcast.notification_type, amount=cancelled)
    logger.info(
        "broadcast cancelled", extra={"broadcast_id": str(broadcast.id), "cancelled": cancelled, "by": by}
    )
    return BroadcastCancelResult(broadcast=broadcast, cancelled=cancelled)
