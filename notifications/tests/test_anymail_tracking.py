"""django-anymail tracking events move a sent notification to delivered or failed."""

from datetime import UTC, datetime, timedelta

import pytest
from anymail.signals import AnymailTrackingEvent, tracking
from django.utils import timezone

from notifications.models import Notification, NotificationStatus
from notifications.tests.factories import NotificationFactory


def _sent(user, provider_message_id: str) -> Notification:
    return NotificationFactory(user=user, provider_message_id=provider_message_id)


def _event(event_type: str, message_id: str, **fields) -> AnymailTrackingEvent:
    return AnymailTrackingEvent(event_type=event_type, message_id=message_id, **fields)


@pytest.mark.django_db
def test_a_delivered_event_marks_the_notification_delivered(user):
    notification = _sent(user, "esp-1")
    at = notification.created_at + timedelta(seconds=3)

    tracking.send(sender=object, event=_event("delivered", "esp-1", timestamp=at), esp_name="SendGrid")

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DELIVERED
    assert notification.delivered_at == at


@pytest.mark.django_db
def test_an_event_time_outside_the_notifications_life_is_taken_as_now(user):
    notification = _sent(user, "esp-4")
    before = timezone.now()

    tracking.send(
        sender=object,
        event=_event("delivered", "esp-4", timestamp=datetime(2020, 1, 1, tzinfo=UTC)),
        esp_name="SendGrid",
    )

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DELIVERED
    assert notification.delivered_at >= before


@pytest.mark.django_db
def test_a_bounce_marks_it_failed_with_the_reason(user):
    notification = _sent(user, "esp-2")

    tracking.send(
        sender=object,
        event=_event("bounced", "esp-2", description="mailbox does not exist"),
        esp_name="Postmark",
    )

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED
    assert notification.error == "provider reported failure: Postmark: mailbox does not exist"


@pytest.mark.django_db
def test_other_events_and_unknown_ids_change_nothing(user):
    notification = _sent(user, "esp-3")

    tracking.send(sender=object, event=_event("opened", "esp-3"), esp_name="Mailgun")
    tracking.send(sender=object, event=_event("delivered", "unknown"), esp_name="Mailgun")

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
