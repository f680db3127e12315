"""Web Push end to end with real workers: one push notification reaches a user's phone through FCM and
their browser through Web Push in the same delivery; a subscription the push service says is gone is
deactivated; a browser that fails for a while is retried alone, the phone not pushed twice."""

import time

import pytest

from notifications.models import Notification, NotificationStatus
from standins.boundary import wait_for
from users.models import Device
from users.tests.factories import DeviceFactory, UserFactory

pytestmark = [pytest.mark.workers, pytest.mark.timeout(180)]


def _register_browser(client, user, web_push_service) -> tuple[dict, Device]:
    subscription = web_push_service.subscribe()
    response = client.post(
        f"/api/v1/users/{user.id}/devices", {"platform": "web", "subscription": subscription}, format="json"
    )
    assert response.status_code == 201, response.json()
    return subscription, Device.objects.get(token=response.json()["data"]["token"])


def _push(client, user) -> str:
    response = client.post(
        "/api/v1/notifications/",
        {
            "notification_type": "push", "user_id": str(user.id), "template_code": "alert",
            "variables": {"name": "Ada", "message": "Disk almost full"},
            "request_id": f"req-{time.time_ns()}", "metadata": {"disk": "/var"},
        },
        format="json",
    )  # fmt: skip
    assert response.status_code == 202, response.json()
    return response.json()["data"]["notification_id"]


def _status(notification_id: str) -> str:
    return Notification.objects.filter(pk=notification_id).values_list("status", flat=True).first() or ""


def test_a_phone_and_a_browser_are_pushed_in_one_delivery(
    pipeline, service_client, fcm_server, web_push_service, push_template
):
    user = UserFactory()
    phone = DeviceFactory(user=user, token="phone-token-1")
    subscription, browser = _register_browser(service_client, user, web_push_service)

    notification_id = _push(service_client, user)

    wait_for(lambda: _status(notification_id) == NotificationStatus.SENT, timeout=60, message="sent")
    [fcm_message] = fcm_server.state.sent_for(notification_id)
    assert fcm_message["message"]["token"] == "phone-token-1"
    [payload] = web_push_service.payloads(subscription)
    assert payload == {
        "notification_id": notification_id, "title": "Alert for Ada", "body": "Disk almost full",
        "image": "https://cdn.example.com/alert.png", "link": "https://app.example.com/alerts",
        "data": {"disk": "/var"},
    }  # fmt: skip
    notification = Notification.objects.get(pk=notification_id)
    assert sorted(notification.delivered_device_ids) == sorted([phone.id, browser.id])
    assert notification.delivery_attempts.get().provider == "fcm+webpush"


def test_a_gone_subscription_is_deactivated(pipeline, service_client, web_push_service, push_template):
    user = UserFactory()
    subscription, browser = _register_browser(service_client, user, web_push_service)
    web_push_service.answers[web_push_service.id_of(subscription)] = 410

    notification_id = _push(service_client, user)

    wait_for(lambda: _status(notification_id) == NotificationStatus.FAILED, timeout=60, message="failed")
    browser.refresh_from_db()
    assert browser.active is False
    assert "gone" in Notification.objects.get(pk=notification_id).error


def test_a_browser_whose_push_service_fails_is_retried_alone(
    pipeline, service_client, fcm_server, web_push_service, push_template
):
    user = UserFactory()
    DeviceFactory(user=user, token="phone-token-2")
    subscription, _ = _register_browser(service_client, user, web_push_service)
    web_push_service.answers[web_push_service.id_of(subscription)] = 503

    notification_id = _push(service_client, user)
    wait_for(lambda: len(fcm_server.state.sent_for(notification_id)) == 1, timeout=60, message="the phone")
    wait_for(
        lambda: Notification.objects.get(pk=notification_id).transient_failures >= 1,
        timeout=60,
        message="a retry for the browser",
    )
    del web_push_service.answers[web_push_service.id_of(subscription)]

    wait_for(lambda: _status(notification_id) == NotificationStatus.SENT, timeout=60, message="sent")
    assert len(web_push_service.payloads(subscription)) == 1
    assert len(fcm_server.state.sent_for(notification_id)) == 1  # the phone was not pushed again
