"""Reads: notifications scoped to what the caller may see, a notification's timeline, and the state of
the pipeline (queue depths, breakers, outbox) for metrics and the admin's operations page."""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import amqp.exceptions
from django.db.models import Count, Min, OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone
from redis.exceptions import RedisError
from rest_framework_api_key.models import APIKey

from notifications.broker.connection import broker_connect, broker_connection
from notifications.channels import CHANNELS, WEBHOOK_QUEUE, Channel
from notifications.models import (
    Broadcast,
    BroadcastStatus,
    DeliveryAttempt,
    Notification,
    OutboxEntry,
    Topic,
    TopicSubscription,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventState,
)
from notifications.providers.breakers import breaker_state
from notifications.providers.registry import breaker_names_configured
from notifications.statuses import IN_FLIGHT_STATUSES
from notifications.webhooks.endpoints import PARKED

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


def topic_list() -> QuerySet[Topic]:
    """Every topic by key, with its subscriber count."""
    return Topic.objects.annotate(subscribers=Count("subscriptions")).order_by("key")


def topic_get(*, key: str, counted: bool = True) -> Topic | None:
    """The topic `key`; `counted`: with its subscriber count (a count of its subscriptions)."""
    return (topic_list() if counted else Topic.objects.all()).filter(key=key).first()


def topic_subscriber_list(*, topic: Topic) -> QuerySet[TopicSubscription]:
    """The topic's subscriptions in user order."""
    return TopicSubscription.objects.filter(topic=topic).order_by("user_id").only("user_id", "created_at")


def user_topic_list(*, user_id: uuid.UUID) -> QuerySet[TopicSubscription]:
    """The topics a user is subscribed to, by key."""
    return TopicSubscription.objects.filter(user_id=user_id).select_related("topic").order_by("topic__key")


def broadcast_list(*, topic: str | None = None, status: str | None = None) -> QuerySet[Broadcast]:
    """Broadcasts, newest first; `topic` (its key) and `status` narrow them."""
    broadcasts = Broadcast.objects.defer("user_ids", "variables").order_by("-created_at", "id")
    if topic is not None:
        broadcasts = broadcasts.filter(topic_key=topic)
    if status is not None:
        broadcasts = broadcasts.filter(status=status)
    return broadcasts


def broadcast_get(*, broadcast_id: Any) -> Broadcast | None:
    try:
        broadcast_uuid = uuid.UUID(str(broadcast_id))
    except ValueError:
        return None
    return broadcast_list().filter(pk=broadcast_uuid).first()


def broadcast_status_counts(*, broadcast: Broadcast) -> dict[str, int]:
    """How many of the broadcast's notifications are in each status (one query, on a partial index)."""
    return {
        row["status"]: row["n"]
        for row in Notification.objects.filter(broadcast=broadcast)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
    }


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
        *((queue, channel, False) for channel in CHANNELS for queue in channel.queues),
        (WEBHOOK_QUEUE, "webhook", False),
        *((Channel(channel).dlq, channel, True) for channel in CHANNELS),
    ]
    depths: list[QueueDepth] = []
    with broker_connection(timeout=timeout) as conn:
        broker_connect(conn)
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


def notification_status_counts(*, since: datetime) -> dict[str, dict[str, int]]:
    """Notifications created since `since`, counted by channel and status (one query)."""
    counts: dict[str, dict[str, int]] = {}
    rows = (
        Notification.objects.filter(created_at__gte=since)
        .order_by()
        .values_list("notification_type", "status")
        .annotate(n=Count("id"))
    )
    for channel, status, count in rows:
        counts.setdefault(channel, {})[status] = count
    return counts


def oldest_unfinished_get() -> Notification | None:
    """The oldest notification that is due and not finished (accepted, queued or being sent); scheduled
    ones are waiting by design."""
    return (
        Notification.objects.filter(status__in=IN_FLIGHT_STATUSES)
        .order_by("created_at")
        .only("id", "status", "created_at")
        .first()
    )


def outbox_backlog_get() -> int:
    """Outbox entries that are due and not yet confirmed by the broker: what the relay is behind on."""
    return OutboxEntry.objects.filter(available_at__lte=timezone.now()).count()


def outbox_waiting_get() -> int:
    """Outbox entries not yet due: scheduled sends, and retries and deferrals waiting for their time."""
    return OutboxEntry.objects.filter(available_at__gt=timezone.now()).count()


@dataclass(frozen=True)
class WebhookBacklog:
    pending: int  # events of active endpoints not yet delivered
    endpoints_disabled: int


def webhook_backlog_get() -> WebhookBacklog:
    """Pending events of active endpoints (their partial index; a disabled endpoint's wait at PARKED), and
    how many endpoints are disabled."""
    pending = WebhookEvent.objects.filter(state=WebhookEventState.PENDING, available_at__lt=PARKED).count()
    return WebhookBacklog(pending, WebhookEndpoint.objects.filter(is_active=False).count())


@dataclass(frozen=True)
class FanOutBacklog:
    broadcasts: int  # still expanding
    oldest_seconds: float  # since the oldest of them was accepted; 0 when none


def fan_out_backlog_get() -> FanOutBacklog:
    """The broadcasts the relay is still expanding (one query, on their partial index)."""
    expanding = Broadcast.objects.filter(status=BroadcastStatus.EXPANDING).aggregate(
        n=Count("id"), oldest=Min("created_at")
    )
    oldest = expanding["oldest"]
    return FanOutBacklog(
        broadcasts=expanding["n"],
        oldest_seconds=max((timezone.now() - oldest).total_seconds(), 0.0) if oldest else 0.0,
    )


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
    if notification.send_at:
        events.append(TimelineEvent(at=notification.send_at, event="due (send_at)"))
    if notification.queued_at:
        events.append(TimelineEvent(at=notification.queued_at, event="queued"))
    for attempt in notification.delivery_attempts.order_by("number"):
        error = f"{attempt.error_class}: {attempt.error_message}" if attempt.error_class else ""
        events.append(
            TimelineEvent(
                at=attempt.started_at,
                event=f"attempt {attempt.number}" + (f" via {attempt.provider}" if attempt.provider else ""),
                outcome=attempt.outcome,
                detail=error or attempt.provider_message_id,
                worker=attempt.worker,
            )
        )
    for event, at, detail in (
        ("sent", notification.sent_at, notification.provider_message_id),
        ("delivered", notification.delivered_at, ""),
        ("failed", notification.failed_at, notification.error),
        ("cancelled", notification.cancelled_at, notification.cancelled_by),
    ):
        if at:
            events.append(TimelineEvent(at=at, event=event, detail=detail))
    return sorted(events, key=lambda e: e.at)


def notifications_with_last_provider(queryset: QuerySet[Notification]) -> QuerySet[Notification]:
    """Each notification with `last_provider`: the provider of its latest attempt ("" before any)."""
    latest = (
        DeliveryAttempt.objects.filter(notification=OuterRef("pk")).order_by("-number").values("provider")
    )
    return queryset.annotate(last_provider=Subquery(latest[:1]))


def delivery_providers_seen() -> list[str]:
    """The providers any attempt went to, by name (the admin's provider filter)."""
    names = DeliveryAttempt.objects.exclude(provider="").values_list("provider", flat=True).distinct()
    return sorted(names)


def api_key_names() -> list[tuple[str, str]]:
    """(prefix, name) of every API key, as a notification's `caller` names it (`key:<prefix>`)."""
    return list(APIKey.objects.order_by("name").values_list("prefix", "name"))
