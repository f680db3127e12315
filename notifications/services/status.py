"""Provider confirmations: a sent notification becomes delivered, or failed when it bounced."""

import logging
import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from notifications.models import Notification, NotificationStatus
from notifier.api.errors import ApplicationError

logger = logging.getLogger(__name__)

# Which states a confirmation may move a notification out of. A confirmation can overtake the
# worker's own commit, so "sending" is accepted too.
_ALLOWED_FROM = {
    NotificationStatus.DELIVERED: {
        NotificationStatus.SENDING,
        NotificationStatus.SENT,
        NotificationStatus.DELIVERED,
    },
    NotificationStatus.FAILED: {
        NotificationStatus.SENDING,
        NotificationStatus.SENT,
        NotificationStatus.DELIVERED,
    },
}


# A provider's clock may run a little ahead of ours; a time further ahead, or before the notification
# existed, is not a time this notification was delivered or bounced.
STATUS_TIMESTAMP_MAX_AHEAD = timedelta(minutes=5)


def _event_time(notification: Notification, timestamp: datetime | None) -> datetime:
    now = timezone.now()
    if timestamp is None:
        return now
    if timestamp < notification.created_at or timestamp > now + STATUS_TIMESTAMP_MAX_AHEAD:
        raise ApplicationError(
            "Invalid input: timestamp must lie between the notification's creation and a few minutes "
            "from now.",
            code="validation_error",
            status=400,
            data={"timestamp": ["Must lie between the notification's creation and 5 minutes from now."]},
        )
    return timestamp


def _apply(notification: Notification, *, status: str, at: datetime, error: str) -> Notification:
    if notification.status not in _ALLOWED_FROM[NotificationStatus(status)]:
        raise ApplicationError(
            f"A {notification.status} notification cannot become {status}.",
            code="invalid_transition",
            status=409,
        )
    notification.status = status
    if status == NotificationStatus.DELIVERED:
        notification.delivered_at = at
    else:
        notification.failed_at = at
        notification.error = f"provider reported failure: {error}" if error else "provider reported failure"
    notification.save(update_fields=["status", "delivered_at", "failed_at", "error", "updated_at"])
    logger.info("provider status", extra={"notification_id": str(notification.id), "status": status})
    return notification


def notification_status_update(
    *,
    notification_id: uuid.UUID,
    channel: str,
    status: str,
    timestamp: datetime | None = None,
    error: str = "",
) -> Notification:
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update()
            .filter(pk=notification_id, notification_type=channel)
            .first()
        )
        if notification is None:
            raise ApplicationError(f"No {channel} notification with this id.", code="not_found", status=404)
        return _apply(notification, status=status, at=_event_time(notification, timestamp), error=error)


def notification_status_from_provider_event(
    *, provider_message_id: str, status: str, timestamp: datetime | None = None, error: str = ""
) -> Notification | None:
    """For webhooks that name the provider's message id (anymail tracking). Unknown ids, and events
    without one, are ignored."""
    if not provider_message_id:
        return None
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update().filter(provider_message_id=provider_message_id).first()
        )
        if notification is None:
            return None
        try:
            at = _event_time(notification, timestamp)
        except ApplicationError:
            at = timezone.now()  # the event still happened; only its clock is off
        try:
            return _apply(notification, status=status, at=at, error=error)
        except ApplicationError:
            return None
