"""Reads: notifications scoped to what the caller may see, a notification's timeline, and the state of
the pipeline (queue depths, breakers, outbox) for metrics and the admin's operations page."""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import amqp.exceptions
from django.db.models import Prefetch, QuerySet
from redis.exceptions import RedisError

from notifications.broker.connection import broker_connection
from notifications.channels import CHANNELS, Channel
from notifications.models import DeliveryAttempt, Notification, OutboxEntry
from notifications.providers.breakers import breaker_state
from notifications.providers.registry import breaker_names_configured

logger = logging.getLogger(__name__)


def notification_queryset(*, user_id: uuid.UUID | None) -> QuerySet[Notification]:
    """Every notification for privileged callers (user_id None); otherwise only that user's."""
    queryset = Notification.objects.all()
    return queryset if user_id is None else queryset.filter(user_id=user_id)


def notification_get(*, notification_id: Any, user_id: uuid.UUID | None) -> Notification | None:
    try:
        notification_uuid = uuid.UUID(str(notification_id))
    except ValueError:
        return None
    return (
        notification_queryset(user_id=user_id)
        .prefetch_related(Prefetch("delivery_attempts", queryset=DeliveryAttempt.objects.order_by("number")))
        .filter(pk=notification_uuid)
        .first()
    )


# Operations: what the metrics and the admin's operations page show. Reads only.


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    channel: str
    dead_letter: bool
    messages: int
    consumers: int


def broker_queue_depths(*, timeout: float) -> list[QueueDepth]:
    """Depth and consumers of every work queue and dead-letter queue, by passive declare (which creates
    nothing). A queue that does not exist is left out. Raises one of BROKER_ERRORS when the broker
    cannot be reached within `timeout` seconds."""
    wanted = [
        *((Channel(channel).queue, channel, False) for channel in CHANNELS),
        *((Channel(channel).dlq, channel, True) for channel in CHANNELS),
    ]
    depths: list[QueueDepth] = []
    with broker_connection(timeout=timeout) as conn:
        conn.connect()
        channel: Any = conn.channel()
        for name, channel_name, dead_letter in wanted:
            try:
                declared = channel.queue_declare(queue=name, passive=True)
            except amqp.exceptions.NotFound:
                channel = conn.channel()  # the broker closed the channel that asked
                continue
            depths.append(
                QueueDepth(
                    queue=name,
                    channel=channel_name,
                    dead_letter=dead_letter,
                    messages=declared.message_count,
                    consumers=declared.consumer_count,
                )
            )
    return depths


def breaker_states() -> dict[str, str]:
    """The state (closed, half-open, open) of each configured provider's circuit breaker, by breaker name
    (`<channel>.<provider>`), or "unknown" when Redis is down."""
    states: dict[str, str] = {}
    for name in breaker_names_configured():
        try:
            states[name] = breaker_state(name)
        except RedisError as exc:
            logger.warning("breaker state unavailable", extra={"breaker": name, "error": repr(exc)})
            states[name] = "unknown"
    return states


def outbox_backlog_get() -> int:
    return OutboxEntry.objects.count()


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    event: str  # created, queued, attempt, sent, delivered, failed
    outcome: str = ""
    detail: str = ""
    worker: str = ""


def notification_timeline(*, notification: Notification) -> list[TimelineEvent]:
    """What happened to a notification, in order: acceptance, hand-off, each provider call with its
    outcome, error and worker, and the end state. A replay moves `queued_at` and clears `failed_at`;
    the attempts keep the whole history."""
    events = [TimelineEvent(at=notification.created_at, event="created", detail=f"by {notification.caller}")]
    if notification.queued_at:
        events.append(TimelineEvent(at=notification.queued_at, event="queued"))
    for attempt in notification.delivery_attempts.order_by("number"):
        error = f"{attempt.error_class}: {attempt.error_message}" if attempt.error_class else ""
        events.append(
            TimelineEvent(
                at=attempt.started_at,
                event=f"attempt {attempt.number}",
                outcome=attempt.outcome,
                detail=error or attempt.provider_message_id,
                worker=attempt.worker,
            )
        )
    for event, at, detail in (
        ("sent", notification.sent_at, notification.provider_message_id),
        ("delivered", notification.delivered_at, ""),
        ("failed", notification.failed_at, notification.error),
    ):
        if at:
            events.append(TimelineEvent(at=at, event=event, detail=detail))
    return sorted(events, key=lambda e: e.at)
