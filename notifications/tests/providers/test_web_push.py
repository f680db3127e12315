"""Web Push with VAPID against a push-service stand-in that checks the VAPID JWT and decrypts what the
browser would receive: the provider's answers, and a browser subscription registered through the API."""

import pytest
from django.test import override_settings

from notifications.providers.base import OutgoingPush, PermanentDeliveryError, TransientDeliveryError
from notifications.providers.web_push import WebPushProvider
from users.models import Device

DEVICES = "/api/v1/users/{}/devices"


@pytest.fixture
def vapid(vapid_keys):
    with override_settings(WEB_PUSH_VAPID_PRIVATE_KEY=vapid_keys[0], WEB_PUSH_VAPID_PUBLIC_KEY=vapid_keys[1]):
        yield vapid_keys


def _push(subscription, **overrides) -> OutgoingPush:
    fields = {
        "notification_id": "n-1", "correlation_id": "c-1", "device_id": 7, "token": "webpush:x",
        "platform": "web",
        "title": "Your order shipped", "body": "It arrives Friday.", "link": "https://shop.example/orders/42",
        "data": {"order": "42"}, "subscription": subscription,
    }  # fmt: skip
    fields.update(overrides)
    return OutgoingPush(**fields)


def test_a_push_reaches_the_browser_encrypted_and_signed(vapid, web_push_service):
    subscription = web_push_service.subscribe()

    [result] = WebPushProvider().send([_push(subscription)])

    assert result.error is None and result.message_id.startswith(web_push_service.origin)
    assert web_push_service.payloads(subscription) == [
        {
            "notification_id": "n-1", "title": "Your order shipped", "body": "It arrives Friday.",
            "image": None, "link": "https://shop.example/orders/42", "data": {"order": "42"},
        }
    ]  # fmt: skip
    assert web_push_service.ttls[-1] == 86400


@pytest.mark.parametrize(
    ("status", "error_type", "token_invalid"),
    [(410, PermanentDeliveryError, True), (404, PermanentDeliveryError, True),
     (429, TransientDeliveryError, False), (503, TransientDeliveryError, False),
     (400, PermanentDeliveryError, False)],
)  # fmt: skip
def test_the_push_services_answers_are_classified(vapid, web_push_service, status, error_type, token_invalid):
    subscription = web_push_service.subscribe()
    web_push_service.answers[web_push_service.id_of(subscription)] = status

    [result] = WebPushProvider().send([_push(subscription)])

    assert type(result.error) is error_type
    assert result.token_invalid is token_invalid


def test_a_push_signed_with_another_key_is_refused_by_the_service(web_push_service):
    from standins.web_push_service import vapid_key_pair

    other_private, other_public = vapid_key_pair()
    subscription = web_push_service.subscribe()
    with override_settings(WEB_PUSH_VAPID_PRIVATE_KEY=other_private, WEB_PUSH_VAPID_PUBLIC_KEY=other_public):
        [result] = WebPushProvider().send([_push(subscription)])

    assert isinstance(result.error, PermanentDeliveryError)
    assert web_push_service.payloads(subscription) == []
    assert "another key" in web_push_service.refusals[-1]


def test_without_a_vapid_key_or_with_too_large_a_payload_nothing_is_sent(web_push_service, vapid_keys):
    subscription = web_push_service.subscribe()
    with override_settings(WEB_PUSH_VAPID_PRIVATE_KEY=""):
        [no_key] = WebPushProvider().send([_push(subscription)])
    with override_settings(WEB_PUSH_VAPID_PRIVATE_KEY=vapid_keys[0]):
        [too_large] = WebPushProvider().send([_push(subscription, body="x" * 5000)])

    assert isinstance(no_key.error, PermanentDeliveryError) and "VAPID" in no_key.error.reason
    assert isinstance(too_large.error, PermanentDeliveryError) and "at most" in too_large.error.reason
    assert web_push_service.payloads(subscription) == []


def test_a_push_service_on_a_private_address_is_refused_at_send_time(vapid, web_push_service):
    subscription = web_push_service.subscribe()
    with override_settings(WEB_PUSH_ALLOW_PRIVATE=False):
        [result] = WebPushProvider().send([_push(subscription)])

    assert isinstance(result.error, PermanentDeliveryError) and "refused" in result.error.reason
    assert web_push_service.payloads(subscription) == []


@pytest.mark.django_db
def test_a_browser_subscription_is_registered_once_as_a_web_device(user, user_client, web_push_service):
    subscription = {**web_push_service.subscribe(), "expirationTime": None}

    first = user_client.post(
        DEVICES.format(user.id), {"platform": "web", "subscription": subscription}, format="json"
    )
    again = user_client.post(
        DEVICES.format(user.id), {"platform": "web", "subscription": subscription}, format="json"
    )

    assert (first.status_code, again.status_code) == (201, 200)
    data = first.json()["data"]
    assert data["kind"] == "web_push" and data["platform"] == "web" and data["token"].startswith("webpush:")
    assert again.json()["data"]["token"] == data["token"]
    device = Device.objects.get()
    assert device.subscription == {"endpoint": subscription["endpoint"], "keys": subscription["keys"]}
    assert "keys" not in str(first.json())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"platform": "android"},
        {"token": "fcm-token-1"},
        {
            "subscription": {
                "endpoint": "http://127.0.0.1:9/push/x",
                "keys": {"p256dh": "AAAA", "auth": "AAAA"},
            }
        },
        {"subscription": {"endpoint": "", "keys": {"p256dh": "AAAA", "auth": "AAAA"}}},
        {"subscription": {"endpoint": "http://127.0.0.1:9/push/x"}},
    ],
)
def test_an_invalid_subscription_is_refused_and_nothing_is_written(
    user, user_client, web_push_service, change
):
    body = {"platform": "web", "subscription": web_push_service.subscribe(), **change}

    response = user_client.post(DEVICES.format(user.id), body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert not Device.objects.exists()


@pytest.mark.django_db
def test_a_subscription_on_a_private_address_is_refused_at_registration(user, user_client, web_push_service):
    with override_settings(WEB_PUSH_ALLOW_PRIVATE=False):
        response = user_client.post(
            DEVICES.format(user.id),
            {"platform": "web", "subscription": web_push_service.subscribe()},
            format="json",
        )

    assert response.status_code == 400
    assert "refused" in response.json()["message"]
    assert not Device.objects.exists()


@pytest.mark.django_db
def test_the_vapid_public_key_is_served_to_anyone(client, vapid):
    configured = client.get("/api/v1/web-push/vapid-public-key")
    with override_settings(WEB_PUSH_VAPID_PUBLIC_KEY=""):
        missing = client.get("/api/v1/web-push/vapid-public-key")

    assert configured.json()["data"] == {"public_key": vapid[1]}
    assert (missing.status_code, missing.json()["error"]) == (404, "not_configured")


def test_web_push_without_a_vapid_key_is_flagged_at_start():
    from notifications.checks import web_push_settings_check

    with override_settings(WEB_PUSH_VAPID_PRIVATE_KEY=""):
        flagged = web_push_settings_check(None)
    with override_settings(PUSH_PROVIDERS=["auto"], WEB_PUSH_VAPID_PRIVATE_KEY=""):
        not_used = web_push_settings_check(None)
    configured = web_push_settings_check(None)

    assert [message.id for message in flagged] == ["notifications.W005"]
    assert not_used == [] and configured == []
