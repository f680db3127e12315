"""The notification API seen by its callers: envelope, authorization, validation, filters, callbacks."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import DeliveryAttempt, Notification, NotificationStatus, OutboxEntry
from notifications.tests.factories import NotificationFactory, send_body
from users.tests.factories import UserFactory

URL = "/api/v1/notifications/"


@pytest.mark.django_db
def test_post_answers_202_in_the_envelope(service_client, user, email_template):
    response = service_client.post(URL, send_body(user, request_id="r-1", priority=9), format="json")

    body = response.json()
    assert response.status_code == 202
    assert body["success"] is True
    assert body["error"] is None
    assert body["data"]["request_id"] == "r-1"
    assert body["data"]["status"] == "pending"
    assert Notification.objects.get(pk=body["data"]["notification_id"]).priority == 9


@pytest.mark.django_db
def test_a_repeat_answers_200_with_the_same_notification(service_client, user, email_template):
    first = service_client.post(URL, send_body(user, request_id="r-2"), format="json")
    second = service_client.post(URL, send_body(user, request_id="r-2"), format="json")

    assert second.status_code == 200
    assert second.json()["data"]["notification_id"] == first.json()["data"]["notification_id"]


@pytest.mark.django_db
def test_the_same_request_id_with_another_body_is_409(service_client, user, email_template):
    service_client.post(URL, send_body(user, request_id="r-3"), format="json")

    response = service_client.post(URL, send_body(user, request_id="r-3", priority=2), format="json")

    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_conflict"
    assert Notification.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"notification_type": "sms"}, "notification_type"),
        ({"user_id": "not-a-uuid"}, "user_id"),
        ({"template_code": "bad code!"}, "template_code"),
        ({"variables": ["a", "list"]}, "variables"),
        ({"variables": {"name": "x" * 40000, "code": "1"}}, "variables"),
        ({"variables": {"name": "nul\x00", "code": "1"}}, "variables"),
        ({"request_id": ""}, "request_id"),
        ({"request_id": "r" * 129}, "request_id"),
        ({"request_id": "tab\there"}, "request_id"),
        ({"priority": 0}, "priority"),
        ({"priority": 11}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"language": "english please"}, "language"),
        ({"metadata": "text"}, "metadata"),
    ],
)
def test_bad_input_is_a_400_with_field_errors_and_writes_nothing(
    service_client, user, email_template, overrides, field
):
    response = service_client.post(URL, send_body(user, **overrides), format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["data"]
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_a_body_that_is_not_an_object_is_a_400(service_client):
    response = service_client.post(URL, ["a"], format="json")

    assert response.status_code == 400
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_unknown_user_or_template_is_a_400(service_client, user, email_template):
    unknown_user = service_client.post(URL, send_body(user, user_id=str(uuid.uuid4())), format="json")
    unknown_template = service_client.post(URL, send_body(user, template_code="nope"), format="json")

    assert unknown_user.status_code == 400
    assert "user_id" in unknown_user.json()["data"]
    assert unknown_template.status_code == 400
    assert "template_code" in unknown_template.json()["data"]
    assert not Notification.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("caller", "expected"),
    [("anonymous_client", 401), ("user_client", 403), ("staff_client", 202), ("service_client", 202)],
)
def test_who_may_send(request, caller, expected, user, email_template):
    client = request.getfixturevalue(caller)

    response = client.post(URL, send_body(user), format="json")

    assert response.status_code == expected
    assert Notification.objects.count() == (1 if expected == 202 else 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        ("anonymous_client", 401),
        ("other_user_client", 404),
        ("user_client", 200),
        ("staff_client", 200),
        ("service_client", 200),
    ],
)
def test_who_may_read_a_notification(request, caller, expected, user):
    notification = NotificationFactory(user=user)
    DeliveryAttempt.objects.create(
        notification=notification, number=1, worker="w1", outcome="sent",
        started_at=notification.created_at, finished_at=notification.created_at,
    )  # fmt: skip
    client = request.getfixturevalue(caller)

    response = client.get(f"{URL}{notification.id}")

    assert response.status_code == expected
    if expected == 200:
        data = response.json()["data"]
        assert data["notification_id"] == str(notification.id)
        assert data["status"] == "sent"
        assert [a["worker"] for a in data["delivery_attempts"]] == ["w1"]


@pytest.mark.django_db
def test_an_unknown_or_malformed_id_is_404(service_client):
    assert service_client.get(f"{URL}{uuid.uuid4()}").status_code == 404
    assert service_client.get(f"{URL}not-a-uuid").status_code == 404


@pytest.mark.django_db
def test_a_user_lists_only_their_own(user_client, user, other_user):
    mine = NotificationFactory(user=user)
    NotificationFactory(user=other_user)

    response = user_client.get(URL)

    assert [n["notification_id"] for n in response.json()["data"]] == [str(mine.id)]
    assert response.json()["meta"]["total"] == 1


@pytest.mark.django_db
def test_the_list_filters_and_paginates(service_client, user, other_user):
    for _ in range(3):
        NotificationFactory(user=user, status=NotificationStatus.FAILED)
    NotificationFactory(user=user, notification_type="push")
    NotificationFactory(user=other_user)

    response = service_client.get(URL, {"user_id": str(user.id), "status": "failed", "limit": 2, "page": 1})

    body = response.json()
    assert response.status_code == 200
    assert len(body["data"]) == 2
    assert body["meta"] == {
        "total": 3, "limit": 2, "page": 1, "total_pages": 2, "has_next": True, "has_previous": False,
    }  # fmt: skip
    assert service_client.get(URL, {"notification_type": "push"}).json()["meta"]["total"] == 1
    assert service_client.get(URL, {"created_after": "2999-01-01T00:00:00Z"}).json()["meta"]["total"] == 0
    assert service_client.get(URL, {"status": "nonsense"}).status_code == 400


@pytest.mark.django_db
def test_a_provider_callback_marks_delivered(service_client, user):
    notification = NotificationFactory(user=user)
    delivered_at = (notification.created_at + timedelta(seconds=2)).replace(microsecond=0)

    response = service_client.post(
        "/api/v1/email/status/",
        {
            "notification_id": str(notification.id),
            "status": "delivered",
            "timestamp": delivered_at.isoformat(),
        },
        format="json",
    )

    notification.refresh_from_db()
    assert response.status_code == 200
    assert notification.status == NotificationStatus.DELIVERED
    assert notification.delivered_at == delivered_at


@pytest.mark.django_db
@pytest.mark.parametrize("offset", [timedelta(seconds=-5), timedelta(minutes=6)])
def test_a_callback_timestamp_outside_the_notifications_life_is_400(service_client, user, offset):
    notification = NotificationFactory(user=user)
    base = notification.created_at if offset < timedelta(0) else timezone.now()

    response = service_client.post(
        "/api/v1/email/status/",
        {
            "notification_id": str(notification.id),
            "status": "delivered",
            "timestamp": (base + offset).isoformat(),
        },
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["data"]) == ["timestamp"]
    notification.refresh_from_db()
    assert (notification.status, notification.delivered_at) == (NotificationStatus.SENT, None)


@pytest.mark.django_db
def test_a_bounce_marks_failed_with_the_error(service_client, user):
    notification = NotificationFactory(user=user, notification_type="push")

    response = service_client.post(
        "/api/v1/push/status/",
        {"notification_id": str(notification.id), "status": "failed", "error": "device offline for 28 days"},
        format="json",
    )

    notification.refresh_from_db()
    assert response.status_code == 200
    assert notification.status == NotificationStatus.FAILED
    assert notification.error == "provider reported failure: device offline for 28 days"


@pytest.mark.django_db
def test_a_callback_for_the_wrong_channel_or_state_changes_nothing(service_client, user):
    push = NotificationFactory(user=user, notification_type="push")
    queued = NotificationFactory(user=user, status=NotificationStatus.QUEUED)

    wrong_channel = service_client.post(
        "/api/v1/email/status/", {"notification_id": str(push.id), "status": "delivered"}, format="json"
    )
    too_early = service_client.post(
        "/api/v1/email/status/", {"notification_id": str(queued.id), "status": "delivered"}, format="json"
    )
    bad_status = service_client.post(
        "/api/v1/email/status/", {"notification_id": str(queued.id), "status": "sent"}, format="json"
    )

    assert (wrong_channel.status_code, too_early.status_code, bad_status.status_code) == (404, 409, 400)
    assert Notification.objects.get(pk=queued.pk).status == NotificationStatus.QUEUED
    assert Notification.objects.get(pk=push.pk).status == NotificationStatus.SENT


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("caller", "expected"),
    [("anonymous_client", 401), ("user_client", 403), ("staff_client", 200), ("service_client", 200)],
)
def test_who_may_report_a_status(request, caller, expected, user):
    notification = NotificationFactory(user=user)
    client = request.getfixturevalue(caller)

    response = client.post(
        "/api/v1/email/status/",
        {"notification_id": str(notification.id), "status": "delivered"},
        format="json",
    )

    assert response.status_code == expected


@pytest.mark.django_db
def test_admin_retries_a_failed_notification(superuser_client, user, email_template):
    failed = NotificationFactory(user=user, status=NotificationStatus.FAILED, error="permanent: boom")
    UserFactory()

    response = superuser_client.post(
        "/admin/notifications/notification/",
        {"action": "retry_notifications", "_selected_action": [str(failed.id)]},
        follow=True,
    )

    failed.refresh_from_db()
    assert response.status_code == 200
    assert failed.status == NotificationStatus.PENDING
    assert failed.error == ""
    assert OutboxEntry.objects.filter(notification=failed).exists()
    assert superuser_client.get(f"/admin/notifications/notification/{failed.id}/change/").status_code == 200


REDIS_DOWN = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


@pytest.mark.django_db
def test_sending_works_with_redis_down_and_postgresql_still_refuses_duplicates(
    service_client, user, email_template, settings
):
    settings.CACHES = REDIS_DOWN
    body = send_body(user, request_id="redis-down")

    first = service_client.post(URL, body, format="json")
    second = service_client.post(URL, body, format="json")

    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["data"]["notification_id"] == first.json()["data"]["notification_id"]
    assert Notification.objects.filter(request_id="redis-down").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reads", "named", "written"),
    [
        ("de", None, "de"),  # the template exists in the language the user reads
        ("de-AT", None, "de-AT"),  # ... in its base language
        ("ja", None, ""),  # not in theirs: the default
        ("de", "en", "en"),  # the send names one: it decides
        ("", None, ""),
    ],
)
def test_a_send_naming_no_language_is_written_in_the_one_the_user_reads(
    service_client, german_welcome, reads, named, written
):
    reader = UserFactory(language=reads)
    body = send_body(reader) | ({"language": named} if named else {})

    single = service_client.post(URL, body, format="json")
    batch = service_client.post(
        f"{URL}batch",
        {"notifications": [send_body(reader) | ({"language": named} if named else {})]},
        format="json",
    )

    assert single.status_code == 202
    assert batch.json()["data"][0]["http_status"] == 202
    assert set(Notification.objects.values_list("language", flat=True)) == {written}
