"""The dead-letter queues: list what is there, replay it to the main queue, purge it.

A dead letter is a task message in `<channel>.dlq`: published by a worker for one notification that
ended `failed` (a permanent failure, exhausted retries, expiry, poison), with the reason and time in
its headers; or routed there by RabbitMQ (x-death) when a message was rejected or exceeded the delivery
limit, and then it may carry a batch of ids. The notification row holds the reason.
"""

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import kombu
from django.db import transaction
from django.utils import timezone

from notifications.broker.connection import BROKER_ERRORS, broker_connect, broker_connection
from notifications.channels import CHANNELS, Channel
from notifications.models import FINAL_STATUSES, Notification, NotificationStatus
from notifications.services.outbox import outbox_enqueue

logger = logging.getLogger(__name__)

# Every broker operation of the DLQ tools is bounded by this, so an unresponsive broker fails them.
BROKER_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class DeadLetter:
    channel: str
    notification_id: str
    reason: str
    attempts: int
    died_at: datetime | None
    status: str


@dataclass(frozen=True)
class ReplayReport:
    replayed: list[str]
    skipped: list[str]


def _notification_ids_of(message: Any) -> list[str]:
    """The ids a letter carries: a task message's first argument, a batch of ids or a single id."""
    body = message.body if isinstance(message.body, (bytes, str)) else json.dumps(message.body)
    payload = json.loads(body)
    args = payload[0] if isinstance(payload, list) else payload.get("args", [])
    first = args[0]
    return [str(uuid.UUID(str(i))) for i in (first if isinstance(first, list) else [first])]


def _death_of(message: Any) -> tuple[str, datetime | None]:
    headers = message.headers or {}
    if "x-notifier-died-at" in headers:
        try:
            died_at: Any = datetime.fromisoformat(str(headers["x-notifier-died-at"]))
        except ValueError:
            died_at = None
        return str(headers.get("x-notifier-reason", "")), died_at
    deaths = headers.get("x-death") or []
    if not deaths:
        return "", None
    death = deaths[0]
    died_at = death.get("time")
    if isinstance(died_at, datetime) and timezone.is_naive(died_at):
        died_at = timezone.make_aware(died_at, UTC)
    return str(death.get("reason", "")), died_at


# Called once per dead letter read, with its queue and how many letters that queue held when reading
# began (a command's progress bar).
LetterProgress = Callable[[str, int], None]


@contextmanager
def _dead_letters(channel: str, on_letter: LetterProgress | None = None) -> Iterator[Iterator[Any]]:
    """Yields the queue's messages, each at most once, unacknowledged.

    Messages not acked by the caller return to the queue when the channel closes. The count is read
    first, so messages dead-lettered again while we work are not read twice.
    """
    with broker_connection(timeout=BROKER_TIMEOUT_SECONDS) as conn:
        broker_connect(conn)
        channel_: Any = conn.channel()
        queue = kombu.Queue(Channel(channel).dlq, channel=channel_, no_declare=True)
        _, count, _ = channel_.queue_declare(queue=Channel(channel).dlq, passive=True)
        if count == 0:
            # Messages a reader just put back (closing its channel) return to a quorum queue a moment
            # later: look once more before calling the queue empty.
            time.sleep(0.2)
            _, count, _ = channel_.queue_declare(queue=Channel(channel).dlq, passive=True)

        def messages() -> Iterator[Any]:
            for _ in range(count):
                message = queue.get(no_ack=False, accept=["json"])
                if message is None:
                    return
                if on_letter is not None:
                    on_letter(queue.name, count)
                yield message

        try:
            yield messages()
        finally:
            channel_.close()


def _channels(channel: str | None) -> Iterable[str]:
    return [channel] if channel else CHANNELS


def dlq_list(*, channel: str | None = None, limit: int = 100) -> list[DeadLetter]:
    """One line per notification in the dead-letter queues (a letter carrying a batch gives several)."""
    letters: list[DeadLetter] = []
    for name in _channels(channel):
        with _dead_letters(name) as messages:
            raw = [m for _, m in zip(range(limit - len(letters)), messages, strict=False)]
        entries = [
            (message, notification_id) for message in raw for notification_id in _notification_ids_of(message)
        ]
        rows = {str(n.id): n for n in Notification.objects.filter(id__in=[nid for _, nid in entries])}
        for message, notification_id in entries[: max(limit - len(letters), 0)]:
            death_reason, died_at = _death_of(message)
            row = rows.get(notification_id)
            letters.append(
                DeadLetter(
                    channel=name,
                    notification_id=notification_id,
                    reason=(row.error if row and row.error else "") or death_reason or "unknown",
                    attempts=row.attempts if row else 0,
                    died_at=died_at,
                    status=row.status if row else "missing",
                )
            )
    return letters


def notification_requeue(*, notification: Notification) -> None:
    """Resets a notification for another delivery with a fresh retry budget; the relay publishes it."""
    with transaction.atomic():
        Notification.objects.filter(pk=notification.pk).update(
            status=NotificationStatus.PENDING,
            error="",
            transient_failures=0,
            failed_at=None,
            updated_at=timezone.now(),
        )
        outbox_enqueue(notification_id=notification.id)
    notification.status = NotificationStatus.PENDING


def notifications_retry_failed(*, notifications: list[Notification]) -> tuple[int, int]:
    """Requeues failed notifications (the admin's retry) and takes their dead letters out of the DLQs,
    so a later "replay all" does not send them again. Returns (requeued, dead letters removed).

    When the broker cannot be reached, they are requeued all the same; their dead letters stay, and a
    replay of them later finds them sent or in progress (the claim keeps them from being sent twice).
    """
    failed = [n for n in notifications if n.status == NotificationStatus.FAILED]
    if not failed:
        return 0, 0
    try:
        replayed = set(dlq_replay(notification_ids={str(n.id) for n in failed}).replayed)
    except BROKER_ERRORS as exc:
        logger.warning("dead letters not removed: the broker is unavailable", extra={"error": str(exc)})
        replayed = set()
    for notification in failed:
        if str(notification.id) not in replayed:
            notification_requeue(notification=notification)
    return len(failed), len(replayed)


def dlq_replay(
    *,
    channel: str | None = None,
    notification_ids: set[str] | None = None,
    dry_run: bool = False,
    on_letter: LetterProgress | None = None,
) -> ReplayReport:
    """Re-publishes dead letters to their main queue. Skips notifications already sent; safe to repeat."""
    replayed: list[str] = []
    skipped: list[str] = []
    for name in _channels(channel):
        with _dead_letters(name, on_letter) as messages:
            for message in messages:
                letter_ids = _notification_ids_of(message)
                if notification_ids is not None and not set(letter_ids) <= notification_ids:
                    continue  # left in the queue
                for notification_id in letter_ids:
                    notification = Notification.objects.filter(pk=notification_id).first()
                    if notification is None or notification.status in FINAL_STATUSES:
                        skipped.append(notification_id)
                        continue
                    replayed.append(notification_id)
                    if not dry_run:
                        notification_requeue(notification=notification)
                # Acked only after the requeues committed: a crash in between leaves the dead letter.
                if not dry_run:
                    message.ack()
    logger.info("dlq replay", extra={"replayed": len(replayed), "skipped": len(skipped), "dry_run": dry_run})
    return ReplayReport(replayed=replayed, skipped=skipped)


def dlq_purge(
    *,
    channel: str | None = None,
    older_than: timedelta | None = None,
    dry_run: bool = False,
    on_letter: LetterProgress | None = None,
) -> int:
    """Drops dead letters (those that died before `older_than` ago, when given); returns how many."""
    cutoff = timezone.now() - older_than if older_than else None
    purged = 0
    for name in _channels(channel):
        with _dead_letters(name, on_letter) as messages:
            for message in messages:
                _, died_at = _death_of(message)
                if cutoff is not None and (died_at is None or died_at > cutoff):
                    continue
                purged += 1
                if not dry_run:
                    message.ack()
    return purged
