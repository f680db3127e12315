"""Webhook endpoints through the API: registered with a secret shown once, listed, changed, disabled and
enabled, rotated, deleted; URLs that could reach this machine's network are refused and nothing is written."""

import pytest
from django.test import override_settings
from standardwebhooks import Webhook

from notifications.models import WebhookEndpoint, WebhookEvent, WebhookEventState
from notifications.tests.factories import NotificationFactory
from notifications.webhooks.endpoints import PARKED
from notifications.webhooks.signing import webhook_body, webhook_headers

URL = "/api/v1/webhooks/"
RECEIVER = "http://127.0.0.1:9/hooks"


def _register(client, url=RECEIVER, events=("notification.sent", "notification.failed"), **extra):
    return client.post(URL, {"url": url, "events": list(events), **extra}, format="json")


@pytest.mark.django_db
def test_an_endpoint_is_registered_with_its_secret_shown_once(service_client):
    created = _register(service_client, description="orders app")
    listed = service_client.get(URL)
    detail = service_client.get(f"{URL}{created.json()['data']['id']}")

    assert created.status_code == 201
    data = created.json()["data"]
    assert data["secret"].startswith("whsec_")
    assert data["events"] == ["notification.failed", "notification.sent"]
    assert (data["url"], data["description"], data["is_active"], data["max_events_per_request"]) == (
        RECEIVER, "orders app", True, 1,
    )  # fmt: skip
    assert data["created_by"].startswith("key:")
    assert data["secret_prefix"] == data["secret"][:10]
    assert "secret" not in listed.json()["data"][0]
    assert "secret" not in detail.json()["data"]
    assert WebhookEndpoint.objects.get().secret == data["secret"]


@pytest.mark.django_db
def test_a_signed_request_verifies_with_the_standard_webhooks_library(service_client):
    secret = _register(service_client).json()["data"]["secret"]
    body = webhook_body({"type": "notification.sent", "timestamp": "2026-12-02T10:00:00Z", "data": {"a": 1}})
    from django.utils import timezone

    headers = webhook_headers(message_id="evt_1", body=body, at=timezone.now(), secrets_=[secret])

    assert Webhook(secret).verify(body, headers) == {
        "type": "notification.sent", "timestamp": "2026-12-02T10:00:00Z", "data": {"a": 1},
    }  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "code", "reason"),
    [
        ("https://10.1.2.3/hooks", "url_refused", "private"),
        ("https://127.0.0.1/hooks", "url_refused", "private"),
        ("https://169.254.169.254/latest/meta-data", "url_refused", "private"),
        ("https://[::1]/hooks", "url_refused", "private"),
        ("http://93.184.215.14/hooks", "url_refused", "https"),
        ("https://user:pw@93.184.215.14/hooks", "url_refused", "credentials"),
        ("ftp://93.184.215.14/hooks", "url_refused", "http"),
    ],
)
def test_a_url_that_could_reach_the_private_network_is_refused(service_client, url, code, reason):
    with override_settings(WEBHOOK_ALLOW_HTTP=False, WEBHOOK_ALLOW_PRIVATE=False):
        response = _register(service_client, url=url)

    assert response.status_code == 400
    assert response.json()["error"] == code
    assert reason in response.json()["message"]
    assert reason in " ".join(response.json()["data"]["url"])
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"url": RECEIVER, "events": []},
        {"url": RECEIVER, "events": ["notification.opened"]},
        {"url": RECEIVER},
        {"url": "not a url", "events": ["notification.sent"]},
        {"url": RECEIVER, "events": ["notification.sent"], "max_events_per_request": 0},
        {"url": RECEIVER, "events": ["notification.sent"], "max_events_per_request": 101},
    ],
)
def test_an_invalid_endpoint_is_refused_and_not_written(service_client, body):
    response = service_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_disabling_parks_pending_events_and_enabling_makes_them_due(service_client, user):
    endpoint_id = _register(service_client).json()["data"]["id"]
    NotificationFactory(user=user, status="sent")  # inserted sent: the trigger writes its event
    event = WebhookEvent.objects.get()

    disabled = service_client.patch(f"{URL}{endpoint_id}", {"is_active": False}, format="json")
    parked_at = WebhookEvent.objects.get().available_at
    enabled = service_client.patch(f"{URL}{endpoint_id}", {"is_active": True}, format="json")

    assert disabled.json()["data"]["is_active"] is False
    assert disabled.json()["data"]["disabled_reason"] == "disabled through the API"
    assert parked_at == PARKED
    assert enabled.json()["data"]["is_active"] is True
    assert enabled.json()["data"]["disabled_reason"] == ""
    event.refresh_from_db()
    assert event.available_at < PARKED and event.state == WebhookEventState.PENDING


@pytest.mark.django_db
def test_a_rotated_secret_signs_beside_the_previous_one(service_client):
    first = _register(service_client).json()["data"]
    rotated = service_client.post(f"{URL}{first['id']}/rotate-secret")

    data = rotated.json()["data"]
    assert rotated.status_code == 200
    assert data["secret"] != first["secret"] and data["secret"].startswith("whsec_")
    assert data["previous_secret_valid_until"] is not None
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.secret, endpoint.previous_secret) == (data["secret"], first["secret"])


@pytest.mark.django_db
def test_an_endpoint_is_deleted_with_its_events(service_client, user):
    endpoint_id = _register(service_client).json()["data"]["id"]
    NotificationFactory(user=user, status="failed")

    deleted = service_client.delete(f"{URL}{endpoint_id}")
    missing = service_client.get(f"{URL}{endpoint_id}")

    assert deleted.status_code == 200
    assert missing.status_code == 404
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint_id", ["0", "abc", "99999999999999999999999"])
def test_an_unknown_endpoint_is_404(service_client, endpoint_id):
    assert service_client.get(f"{URL}{endpoint_id}").status_code == 404


@pytest.mark.django_db
def test_the_endpoint_limit_refuses_more(service_client):
    with override_settings(WEBHOOK_MAX_ENDPOINTS=1):
        first = _register(service_client)
        second = _register(service_client)

    assert (first.status_code, second.status_code) == (201, 409)
    assert second.json()["error"] == "limit_reached"
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.django_db
def test_events_are_listed_by_state(service_client, user):
    endpoint_id = _register(service_client).json()["data"]["id"]
    notification = NotificationFactory(user=user, status="failed", error="permanent: mailbox unknown")

    listed = service_client.get(f"{URL}{endpoint_id}/events?state=pending")
    none = service_client.get(f"{URL}{endpoint_id}/events?state=delivered")
    bad = service_client.get(f"{URL}{endpoint_id}/events?state=nope")

    [event] = listed.json()["data"]
    assert event["event_type"] == "notification.failed"
    assert event["notification_id"] == str(notification.id)
    assert event["payload"]["data"]["reason"] == "permanent: mailbox unknown"
    assert none.json()["data"] == []
    assert bad.status_code == 400
