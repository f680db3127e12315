"""django-anymail tracking webhooks (SES, SendGrid, Mailgun, Postmark, Brevo...) report deliveries and
bounces through one signal; the receiver only calls the status service."""

from typing import Any

from anymail.signals import AnymailTrackingEvent, tracking

from notifications.models import NotificationStatus
from notifications.services.status import notification_status_from_provider_event

_EVENT_STATUS = {
    "delivered": NotificationStatus.DELIVERED,
    "bounced": NotificationStatus.FAILED,
    "rejected": NotificationStatus.FAILED,
    "failed": NotificationStatus.FAILED,
}


def on_tracking_event(sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    status = _EVENT_STATUS.get(event.event_type)
    if status is None or not event.message_id:
        return
    notification_status_from_provider_event(
        provider_message_id=event.message_id,
        status=status,
        timestamp=event.timestamp,
        error=f"{esp_name}: {event.description or event.reject_reason or event.event_type}",
    )


def connect() -> None:
    tracking.connect(on_tracking_event, dispatch_uid="notifier-anymail-tracking")
