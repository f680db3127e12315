"""Claiming a batch: which notifications this worker may deliver now, decided by PostgreSQL.

A session advisory lock per notification serialises workers: taken for the whole batch in one statement,
held while the provider is called, released when the batch is recorded, or by PostgreSQL itself when
the worker's process dies (its session ends), so a dead worker's claims free up at once. A duplicate
message meeting a delivery in progress finds the lock taken; a redelivery after a crash takes it. The
status guard (a finished notification is never claimed) makes every consumer idempotent.
"""

import time
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError, connection
from django.db.models import F
from django.utils import timezone

from notifications.models import Notification, NotificationStatus
from notifications.statuses import CLAIMABLE_STATUSES

# A redelivery right after a worker died can find the lock not yet released by the dead worker's
# database session: wait this long in the task before calling a notification busy.
BUSY_WAIT_SECONDS = 3.0
BUSY_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Claim:
    """The batch as claimed: rows this worker holds, ids another worker holds, ids with nothing to do."""

    claimed: list[Notification]
    busy: list[str]
    done: list[str]


_CLAIMABLE = [str(status) for status in CLAIMABLE_STATUSES]


def _lock_and_load(notification_ids: list[str], channel: str) -> tuple[list[Notification], list[str]]:
    """One round trip: the claimable rows of `channel` among the ids, each with its advisory lock tried."""
    table = Notification._meta.db_table
    rows = list(
        Notification.objects.raw(
            f"""
            SELECT *, pg_try_advisory_lock(hashtextextended(id::text, 0)) AS locked
              FROM {table}
             WHERE id = ANY(%s::uuid[]) AND notification_type = %s AND status = ANY(%s)
               AND (send_at IS NULL OR send_at <= now())
             ORDER BY id
            """,  # noqa: S608 - the table name comes from the model, values are parameters
            [notification_ids, channel, _CLAIMABLE],
        )
    )
    held = [row for row in rows if row.locked]  # type: ignore[attr-defined]
    busy = [str(row.id) for row in rows if not row.locked]  # type: ignore[attr-defined]
    return _still_claimable(held), busy


def _still_claimable(held: list[Notification]) -> list[Notification]:
    """The held rows whose status is still claimable now that their locks are taken. The statement that
    took a lock read the row as it was when the statement began: a cancel that committed (and released
    its own hold of the lock) in between is seen only by a statement that starts after the lock is ours."""
    if not held:
        return held
    table = Notification._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table} WHERE id = ANY(%s::uuid[]) AND status = ANY(%s)",  # noqa: S608
            [[row.id for row in held], _CLAIMABLE],
        )
        still = {row[0] for row in cursor.fetchall()}
    return [row for row in held if row.id in still]


def batch_claim(*, notification_ids: list[str], channel: str) -> Claim:
    """Claims what can be delivered now. Busy ones are tried again for up to BUSY_WAIT_SECONDS."""
    wanted = list(dict.fromkeys(notification_ids))
    claimed, busy = _lock_and_load(wanted, channel)
    deadline = time.monotonic() + BUSY_WAIT_SECONDS
    while busy and time.monotonic() < deadline:
        time.sleep(BUSY_POLL_SECONDS)
        more, busy = _lock_and_load(busy, channel)
        claimed.extend(more)
    seen = {str(row.id) for row in claimed} | set(busy)
    # Read in id order, sent in the message's: the relay lists them by due time.
    position = {nid: index for index, nid in enumerate(wanted)}
    claimed.sort(key=lambda row: position[str(row.id)])
    return Claim(claimed=claimed, busy=busy, done=[nid for nid in wanted if nid not in seen])


def batch_release() -> None:
    """Releases every advisory lock this connection holds (the batch's claims)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")
    except (OperationalError, InterfaceError):
        connection.close()  # the session is gone, and its locks with it


def mark_sending(*, notification_ids: list[str], worker: str) -> None:
    """One statement: the notifications about to be sent are `sending`, by this worker, one more attempt."""
    if not notification_ids:
        return
    Notification.objects.filter(pk__in=notification_ids).update(
        status=NotificationStatus.SENDING,
        attempts=F("attempts") + 1,
        claimed_by=worker[:255],
        updated_at=timezone.now(),
    )
