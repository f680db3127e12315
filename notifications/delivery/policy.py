"""When a notification that could not be sent now is due again."""

import random
from datetime import datetime, timedelta

from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.utils import timezone

from notifications.models import Notification

# A notification another worker holds right now is looked at again this much later.
BUSY_RETRY_SECONDS = 5.0


def retry_countdown(*, failures: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (never below half the step), honouring a provider's Retry-After."""
    step = get_exponential_backoff_interval(
        factor=settings.DELIVERY_RETRY_BASE_SECONDS,
        retries=max(failures - 1, 0),
        maximum=settings.DELIVERY_RETRY_MAX_SECONDS,
        full_jitter=False,
    )
    countdown = step / 2 + random.uniform(0, step / 2)
    return max(countdown, retry_after or 0.0)


def breaker_countdown(*, open_for: float) -> float:
    """After an open breaker: spread the deferred notifications over the moments after it lets a trial
    call through, so they do not all arrive at once."""
    return open_for + random.uniform(0, settings.BREAKER_RESET_SECONDS / 2)


def due_in(seconds: float) -> datetime:
    return timezone.now() + timedelta(seconds=seconds)


def expires_at_of(notification: Notification) -> datetime:
    """When a notification stops being worth sending: its own expiry, else DELIVERY_DEADLINE_SECONDS after
    it was due (its send_at, or its acceptance)."""
    if notification.expires_at is not None:
        return notification.expires_at
    due = notification.send_at or notification.created_at
    return due + timedelta(seconds=settings.DELIVERY_DEADLINE_SECONDS)


def expired_reason(notification: Notification, expiry: datetime) -> str:
    if notification.expires_at is not None:
        return f"expired: not handed to a provider before its expiry ({expiry.isoformat()})"
    return (
        f"expired: not handed to a provider within DELIVERY_DEADLINE_SECONDS "
        f"({settings.DELIVERY_DEADLINE_SECONDS}) of being due"
    )
