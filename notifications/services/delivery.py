"""The worker path: claim the notification, render, call the provider, record the outcome.

A message may arrive twice (relay re-publish, broker redelivery, replay). A session advisory lock on
the notification serialises workers: it is held while the provider is called and released by
PostgreSQL if the worker dies, so a redelivery after a crash proceeds while a duplicate of a delivery
in progress waits and then finds the notification sent. The only window for a duplicate send is a
worker dying after the provider accepted the message and before the commit that records it.
"""

import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import pybreaker
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from notifications.channels.base import (
    DeliveryError,
    OutgoingEmail,
    OutgoingPush,
    PermanentDeliveryError,
    PushResult,
    TransientDeliveryError,
)
from notifications.channels.breakers import breaker_get, breaker_open_remaining
from notifications.channels.email import email_send
from notifications.channels.push import push_provider_get
from notifications.metrics import delivery_finished, provider_error
from notifications.models import (
    FINAL_STATUSES,
    AttemptOutcome,
    DeliveryAttempt,
    Notification,
    NotificationStatus,
)
from notifications.services.preferences import NO_PUSH_DEVICE, channel_disabled_reason
from notifier.api.errors import ApplicationError
from notifier.logging import correlation_id_set
from templates_app.rendering import RenderedTemplate, template_render, value_as_text
from templates_app.selectors import template_version_resolve
from users.selectors import UserProfile, devices_active_for_user, user_profile_get
from users.services import device_deactivate

logger = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_RETRY_SECONDS = 5.0  # whole seconds: see retry_countdown
BUSY_WAIT_SECONDS = 3.0


class Outcome(enum.StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"
    ALREADY_DONE = "already_done"  # a duplicate message: nothing to do
    RETRY = "retry"  # transient failure or open breaker: publish again after `countdown`
    BUSY = "busy"  # another worker holds the notification right now
    FAILED = "failed"  # permanent failure or retries exhausted: dead-letter the message


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    reason: str = ""
    countdown: float = 0.0


def retry_countdown(*, failures: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (never below half the step), honouring a provider's Retry-After."""
    step = get_exponential_backoff_interval(
        factor=settings.DELIVERY_RETRY_BASE_SECONDS,
        retries=max(failures - 1, 0),
        maximum=settings.DELIVERY_RETRY_MAX_SECONDS,
        full_jitter=False,
    )
    countdown = step / 2 + random.uniform(0, step / 2)
    # Delayed delivery on quorum queues works in whole seconds, and needs at least one.
    return float(max(1, round(max(countdown, retry_after or 0.0))))


def _lock_and_load(notification_id: str) -> tuple[Notification | None, bool]:
    """Loads the notification and tries its session advisory lock, in one round trip.

    The lock is PostgreSQL's: held by this connection while the provider is called, released by
    `_unlock` after the outcome is committed, or by PostgreSQL itself if this process dies.
    """
    table = Notification._meta.db_table
    sql = (
        f"SELECT *, pg_try_advisory_lock(hashtextextended(id::text, 0)) AS locked FROM {table} WHERE id = %s"  # noqa: S608
    )
    rows = list(Notification.objects.raw(sql, [notification_id]))
    if not rows:
        return None, False
    return rows[0], bool(rows[0].locked)  # type: ignore[attr-defined]


def _unlock(notification: Notification) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(hashtextextended(%s::uuid::text, 0))", [str(notification.id)]
            )
    except (OperationalError, InterfaceError):
        # The session is gone, and its lock with it.
        connection.close()


# After the provider accepted a message, the write that records it is retried on a new connection
# when the database connection broke: failing the task here would make a retry send it again.
RECORD_ATTEMPTS = 4


def _durably(write: Callable[[], T]) -> T:
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        try:
            return write()
        except (OperationalError, InterfaceError):
            if attempt == RECORD_ATTEMPTS:
                raise
            logger.warning("recording a delivery outcome failed; retrying", extra={"attempt": attempt})
            connection.close()
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def _record(
    notification: Notification,
    *,
    outcome: AttemptOutcome,
    worker: str,
    started_at: Any,
    error: Exception | None = None,
    provider_message_id: str = "",
    template_version: int | None = None,
) -> None:
    DeliveryAttempt.objects.create(
        notification=notification,
        number=notification.attempts,
        worker=worker[:255],
        outcome=outcome,
        error_class=error.__class__.__name__ if error else "",
        error_message=str(error)[:4000] if error else "",
        provider_message_id=provider_message_id[:255],
        template_version=template_version,
        started_at=started_at,
        finished_at=timezone.now(),
    )


def _record_sent(
    notification: Notification,
    *,
    worker: str,
    started_at: Any,
    provider_message_id: str,
    template_version: int,
) -> None:
    """The attempt and the sent status in one statement (one round trip, one transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH attempt AS (
                INSERT INTO {DeliveryAttempt._meta.db_table}
                    (notification_id, number, worker, outcome, error_class, error_message,
                     provider_message_id, template_version, started_at, finished_at)
                VALUES (%s, %s, %s, %s, '', '', %s, %s, %s, now())
            )
            UPDATE {Notification._meta.db_table}
               SET status = %s, error = '', sent_at = now(), updated_at = now(),
                   provider_message_id = %s, template_version = %s
             WHERE id = %s
            """,  # noqa: S608 - table names come from the models, values are parameters
            [
                notification.id, notification.attempts, worker[:255], AttemptOutcome.SENT,
                provider_message_id[:255], template_version, started_at,
                NotificationStatus.SENT, provider_message_id[:255], template_version, notification.id,
            ],
        )  # fmt: skip
    _observe_end(notification, status=NotificationStatus.SENT, at=timezone.now())


def _finish(
    notification: Notification, *, status: NotificationStatus, error: str = "", **fields: Any
) -> None:
    now = timezone.now()
    stamp = {NotificationStatus.SENT: "sent_at", NotificationStatus.FAILED: "failed_at"}.get(status)
    if stamp:
        fields[stamp] = now
    Notification.objects.filter(pk=notification.pk).update(
        status=status, error=error, updated_at=now, **fields
    )
    if status in _END_STATES:
        _observe_end(notification, status=status, at=now)


_END_STATES = frozenset({NotificationStatus.SENT, NotificationStatus.FAILED, NotificationStatus.SKIPPED})


def _observe_end(notification: Notification, *, status: str, at: Any) -> None:
    latency = (at - notification.created_at).total_seconds() if status == NotificationStatus.SENT else None
    delivery_finished(channel=notification.notification_type, status=str(status), latency_seconds=latency)


def _fail(notification: Notification, reason: str) -> DeliveryResult:
    _finish(notification, status=NotificationStatus.FAILED, error=reason)
    logger.warning("delivery failed", extra={"notification_id": str(notification.id), "reason": reason})
    return DeliveryResult(Outcome.FAILED, reason=reason)


def _render_failed(notification: Notification, exc: Exception, *, worker: str) -> DeliveryResult:
    """Records an attempt with the render error and fails the notification (retrying cannot help: the
    template and the variables stay the same), so its timeline says why nothing was sent."""
    reason = exc.message if isinstance(exc, ApplicationError) else f"{exc.__class__.__name__}: {exc}"
    if not isinstance(exc, ApplicationError):
        logger.exception("rendering failed unexpectedly", extra={"notification_id": str(notification.id)})
    started_at = timezone.now()
    with transaction.atomic():
        Notification.objects.filter(pk=notification.pk).update(attempts=F("attempts") + 1)
        notification.attempts += 1
        _record(
            notification,
            outcome=AttemptOutcome.PERMANENT_ERROR,
            worker=worker,
            started_at=started_at,
            error=exc,
        )
        return _fail(notification, f"render error: {reason}")


def _render(notification: Notification) -> RenderedTemplate:
    version = template_version_resolve(
        code=notification.template_code,
        notification_type=notification.notification_type,
        language=notification.language or None,
    )
    return template_render(version=version, variables=notification.variables)


def _push_messages(notification: Notification, rendered: RenderedTemplate) -> list[OutgoingPush]:
    already = set(notification.delivered_device_ids)
    # FCM data values are strings: objects and lists travel as JSON text, null as "", booleans as true/false.
    data = {str(key): value_as_text(value) for key, value in notification.metadata.items()}
    return [
        OutgoingPush(
            notification_id=str(notification.id),
            correlation_id=notification.correlation_id,
            device_id=device.id,
            token=device.token,
            platform=device.platform,
            title=rendered.subject,
            body=rendered.body,
            image_url=rendered.image_url,
            link=rendered.link,
            data=data,
        )
        for device in devices_active_for_user(user_id=notification.user_id)
        if device.id not in already
    ]


def _send_push(messages: list[OutgoingPush]) -> list[PushResult]:
    results = push_provider_get().send(messages=messages)
    transient = [r.error for r in results if isinstance(r.error, TransientDeliveryError)]
    if results and len(transient) == len(results):
        # Every device failed for a reason that may recover: FCM itself is in trouble; the breaker counts it.
        first = transient[0]
        raise TransientDeliveryError(f"all devices failed: {first}", retry_after=first.retry_after)
    return results


def _refusal(notification: Notification, channel: str) -> tuple[UserProfile | None, DeliveryResult | None]:
    """The recipient's profile, or why there is nothing to send (recorded when it is news)."""
    if notification.notification_type != channel:
        return None, DeliveryResult(Outcome.ALREADY_DONE, reason="message on the wrong queue")
    if notification.status in FINAL_STATUSES or notification.status == NotificationStatus.FAILED:
        return None, DeliveryResult(Outcome.ALREADY_DONE, reason=f"already {notification.status}")
    deadline = notification.created_at + timedelta(seconds=settings.DELIVERY_DEADLINE_SECONDS)
    if timezone.now() > deadline:
        return None, _fail(notification, "expired: not delivered within the delivery deadline")
    profile = user_profile_get(user_id=notification.user_id)
    if profile is None or not profile.is_active:
        reason = "the user no longer exists or is inactive"
        _finish(notification, status=NotificationStatus.SKIPPED, error=reason)
        return None, DeliveryResult(Outcome.SKIPPED, reason=reason)
    reason = channel_disabled_reason(channel=channel, preferences=profile.preferences)
    if reason:
        _finish(notification, status=NotificationStatus.SKIPPED, error=reason)
        return None, DeliveryResult(Outcome.SKIPPED, reason=reason)
    return profile, None


def delivery_send(
    *, notification_id: str, channel: str, worker: str, delivery_count: int = 0
) -> DeliveryResult:
    """Delivers one notification once. The task maps the result to ack, retry or dead-letter.

    `delivery_count` is how many times the broker already handed this message out without an ack
    (a worker crashed or was killed holding it). On the last delivery RabbitMQ allows, the message is a
    poison: it is failed with that reason and dead-lettered instead of crashing another worker.
    """
    notification, locked = _lock_and_load(notification_id)
    # A redelivery right after a worker died can find the lock not yet released by the dead worker's
    # database session, and a duplicate message can meet a delivery in progress: wait a moment in
    # this delivery (a retry would be a new message, losing the broker's count of crashed deliveries).
    deadline = time.monotonic() + BUSY_WAIT_SECONDS
    while notification is not None and not locked and time.monotonic() < deadline:
        time.sleep(0.1)
        notification, locked = _lock_and_load(notification_id)
    if notification is None:
        return DeliveryResult(Outcome.ALREADY_DONE, reason="no such notification")
    correlation_id_set(notification.correlation_id or None)
    if not locked:
        return DeliveryResult(Outcome.BUSY, reason="held by another worker", countdown=BUSY_RETRY_SECONDS)
    try:
        return _deliver_locked(notification, channel=channel, worker=worker, delivery_count=delivery_count)
    finally:
        _unlock(notification)


def _deliver_locked(
    notification: Notification, *, channel: str, worker: str, delivery_count: int
) -> DeliveryResult:
    profile, refusal = _refusal(notification, channel)
    if refusal is not None or profile is None:
        return refusal or DeliveryResult(Outcome.ALREADY_DONE)
    if delivery_count >= settings.BROKER_DELIVERY_LIMIT:
        return _fail(
            notification,
            f"poison: delivered {delivery_count} times without completing (the worker died each time)",
        )
    try:
        rendered = _render(notification)
    except Exception as exc:  # noqa: BLE001 - any render failure is this notification's end; it is recorded
        return _render_failed(notification, exc, worker=worker)

    breaker = breaker_get(channel)
    open_for = breaker_open_remaining(channel)
    if open_for > 0:
        # Spread the deferred messages over the moments after the breaker lets a trial through.
        countdown = float(max(1, round(open_for + random.uniform(0, settings.BREAKER_RESET_SECONDS / 2))))
        reason = f"deferred: the {channel} provider's circuit breaker is open"
        _finish(notification, status=NotificationStatus.QUEUED, error=reason)
        return DeliveryResult(Outcome.RETRY, reason=reason, countdown=countdown)

    push_messages: list[OutgoingPush] = []
    if channel == "push":
        push_messages = _push_messages(notification, rendered)
        if not push_messages:
            if notification.delivered_device_ids:
                _finish(notification, status=NotificationStatus.SENT)
                return DeliveryResult(Outcome.SENT)
            _finish(notification, status=NotificationStatus.SKIPPED, error=NO_PUSH_DEVICE)
            return DeliveryResult(Outcome.SKIPPED, reason=NO_PUSH_DEVICE)

    Notification.objects.filter(pk=notification.pk).update(
        status=NotificationStatus.SENDING,
        attempts=F("attempts") + 1,
        claimed_by=worker[:255],
        updated_at=timezone.now(),
    )
    notification.attempts += 1
    started_at = timezone.now()
    try:
        if channel == "email":
            provider_id = breaker.call(
                email_send,
                message=OutgoingEmail(
                    notification_id=str(notification.id),
                    correlation_id=notification.correlation_id,
                    to=profile.email,
                    subject=rendered.subject,
                    body=rendered.body,
                    html_body=rendered.html_body,
                ),
            )
            results = None
        else:
            results = breaker.call(_send_push, push_messages)
            provider_id = next((r.message_id for r in results if r.error is None), "")
    except PermanentDeliveryError as exc:
        provider_error(channel=channel, error_class=type(exc).__name__)
        _record(
            notification,
            outcome=AttemptOutcome.PERMANENT_ERROR,
            worker=worker,
            started_at=started_at,
            error=exc,
            template_version=rendered.version,
        )
        return _fail(notification, f"permanent: {exc.reason}")
    except (
        TimeoutError,
        TransientDeliveryError,
        pybreaker.CircuitBreakerError,
        SoftTimeLimitExceeded,
    ) as exc:
        provider_error(channel=channel, error_class=type(exc).__name__)
        _record(
            notification,
            outcome=AttemptOutcome.TRANSIENT_ERROR,
            worker=worker,
            started_at=started_at,
            error=exc,
            template_version=rendered.version,
        )
        return _transient(notification, exc)

    if results is None:
        _durably(
            lambda: _record_sent(
                notification, worker=worker, started_at=started_at, provider_message_id=provider_id,
                template_version=rendered.version,
            )
        )  # fmt: skip
        logger.info("notification sent", extra={"notification_id": str(notification.id), "channel": channel})
        return DeliveryResult(Outcome.SENT)
    for result in results:
        if result.error is not None:
            provider_error(channel="push", error_class=type(result.error).__name__)
    tokens = {push.device_id: push.token for push in push_messages}
    return _durably(
        lambda: _push_outcome(
            notification, results, tokens=tokens, worker=worker, started_at=started_at, rendered=rendered
        )
    )


def _transient(notification: Notification, exc: Exception) -> DeliveryResult:
    reason = exc.reason if isinstance(exc, DeliveryError) else f"{exc.__class__.__name__}: {exc}"
    if isinstance(exc, pybreaker.CircuitBreakerError):
        # This call tripped the breaker, or was the half-open trial that failed: the provider is down,
        # which is not this notification's fault, so it is deferred without spending its retry budget.
        reason = f"deferred: the {notification.notification_type} provider's circuit breaker opened"
        _finish(notification, status=NotificationStatus.QUEUED, error=reason)
        countdown = settings.BREAKER_RESET_SECONDS + random.uniform(0, settings.BREAKER_RESET_SECONDS / 2)
        return DeliveryResult(Outcome.RETRY, reason=reason, countdown=float(max(1, round(countdown))))
    failures = notification.transient_failures + 1
    if failures > settings.DELIVERY_MAX_RETRIES:
        return _fail(notification, f"retries exhausted after {failures} transient failures; last: {reason}")
    _finish(
        notification,
        status=NotificationStatus.QUEUED,
        error=f"retrying: {reason}",
        transient_failures=failures,
    )
    retry_after = exc.retry_after if isinstance(exc, TransientDeliveryError) else None
    return DeliveryResult(
        Outcome.RETRY, reason=reason, countdown=retry_countdown(failures=failures, retry_after=retry_after)
    )


def _push_outcome(
    notification: Notification,
    results: list[PushResult],
    *,
    tokens: dict[int, str],
    worker: str,
    started_at: Any,
    rendered: RenderedTemplate,
) -> DeliveryResult:
    """Records a push attempt; safe to run again (`_durably`): every write is idempotent or atomic."""
    delivered = [r for r in results if r.error is None]
    for result in results:
        if result.token_invalid:
            device_deactivate(token=tokens[result.device_id], reason=str(result.error))
    transient = [r.error for r in results if isinstance(r.error, TransientDeliveryError)]
    delivered_ids = list(
        dict.fromkeys([*notification.delivered_device_ids, *(r.device_id for r in delivered)])
    )
    provider_id = next((r.message_id for r in delivered), notification.provider_message_id)
    first_error = next((r.error for r in results if r.error is not None), None)
    with transaction.atomic():
        _record(
            notification,
            outcome=AttemptOutcome.TRANSIENT_ERROR
            if transient
            else (AttemptOutcome.SENT if delivered_ids else AttemptOutcome.PERMANENT_ERROR),
            worker=worker,
            started_at=started_at,
            error=first_error,
            provider_message_id=provider_id,
            template_version=rendered.version,
        )
        Notification.objects.filter(pk=notification.pk).update(
            delivered_device_ids=delivered_ids,
            provider_message_id=provider_id,
            template_version=rendered.version,
        )
        notification.delivered_device_ids = delivered_ids
        if transient:
            return _transient(notification, transient[0])
        if delivered_ids:
            _finish(notification, status=NotificationStatus.SENT)
            return DeliveryResult(Outcome.SENT)
    return _fail(notification, f"permanent: no device accepted the push; {first_error}")
