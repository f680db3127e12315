"""POST /api/v1/notifications/ is limited per API key (and per staff user), counted atomically in Redis."""

import logging
import uuid

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from notifications.models import Notification, OutboxEntry
from templates_app.tests.factories import TemplateFactory, TemplateVersionFactory

URL = "/api/v1/notifications/"


@pytest.fixture
def recipient(user):
    template = TemplateFactory(code="welcome", notification_type="email", language="en")
    version = TemplateVersionFactory(template=template, version=1)
    template.active_version = version
    template.save()
    return user


def _key_client() -> APIClient:
    _, key = APIKey.objects.create_key(name=f"key-{uuid.uuid4().hex[:8]}")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


def _send(client: APIClient, recipient) -> object:
    return client.post(
        URL,
        {
            "notification_type": "email",
            "user_id": str(recipient.id),
            "template_code": "welcome",
            "variables": {"name": "Ada"},
            "request_id": uuid.uuid4().hex,
        },
        format="json",
    )


def test_the_limit_refuses_exactly_the_request_after_n_with_retry_after(settings, recipient):
    settings.NOTIFICATION_RATE_LIMIT_PER_MINUTE = 3
    client = _key_client()

    statuses = [_send(client, recipient).status_code for _ in range(3)]
    written = (Notification.objects.count(), OutboxEntry.objects.count())
    refused = _send(client, recipient)

    assert statuses == [202, 202, 202]
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    # Nothing written for the refused request.
    assert (Notification.objects.count(), OutboxEntry.objects.count()) == written == (3, written[1])


def test_each_api_key_has_its_own_budget(settings, recipient):
    settings.NOTIFICATION_RATE_LIMIT_PER_MINUTE = 1
    first, second = _key_client(), _key_client()

    assert _send(first, recipient).status_code == 202
    assert _send(first, recipient).status_code == 429
    assert _send(second, recipient).status_code == 202


def test_staff_users_are_limited_per_user(settings, recipient, staff_client):
    settings.NOTIFICATION_RATE_LIMIT_PER_MINUTE = 1

    assert _send(staff_client, recipient).status_code == 202
    assert _send(staff_client, recipient).status_code == 429
    assert _send(_key_client(), recipient).status_code == 202


def test_reading_does_not_count(settings, recipient):
    settings.NOTIFICATION_RATE_LIMIT_PER_MINUTE = 1
    client = _key_client()

    for _ in range(3):
        assert client.get(URL).status_code == 200
    assert _send(client, recipient).status_code == 202


def test_a_refused_caller_spends_nothing(settings, recipient, user_client):
    """Permissions come first: a user token (403) does not use up anyone's budget."""
    settings.NOTIFICATION_RATE_LIMIT_PER_MINUTE = 1

    assert _send(user_client, recipient).status_code == 403
    assert _send(user_client, recipient).status_code == 403


def test_zero_disables_the_limit(settings, recipient):
    settings.NOTIFICATION_RATE_LIMIT_PER_MINUTE = 0
    client = _key_client()

    assert [_send(client, recipient).status_code for _ in range(5)] == [202] * 5


def test_the_limit_fails_open_when_redis_is_down(settings, recipient, monkeypatch, caplog):
    settings.NOTIFICATION_RATE_LIMIT_PER_MINUTE = 1

    def redis_down(**kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr("notifier.api.throttling.rate_limit_hit", redis_down)
    client = _key_client()

    with caplog.at_level(logging.WARNING, logger="notifier.api.throttling"):
        statuses = [_send(client, recipient).status_code for _ in range(2)]

    assert statuses == [202, 202]
    assert "send rate limit unavailable" in caplog.text


def test_a_send_to_a_topic_counts_once_whatever_its_audience(settings, recipient):
    from notifications.models import Broadcast, Topic, TopicSubscription
    from users.tests.factories import users_bulk

    settings.NOTIFICATION_RATE_LIMIT_PER_MINUTE = 2
    topic = Topic.objects.create(key="everyone", name="Everyone")
    TopicSubscription.objects.bulk_create([TopicSubscription(topic=topic, user=u) for u in users_bulk(5)])
    client = _key_client()
    body = {
        "notification_type": "email",
        "topic": "everyone",
        "template_code": "welcome",
        "variables": {"name": "x"},
    }

    statuses = [
        client.post(URL, {**body, "request_id": uuid.uuid4().hex}, format="json").status_code
        for _ in range(3)
    ]

    assert statuses == [202, 202, 429]
    assert Broadcast.objects.count() == 2
