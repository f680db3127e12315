"""The request path: validation, idempotency, preferences, the outbox hand-off."""

import threading
import uuid

import pytest
from django.db import connections
from django_redis import get_redis_connection

from notifications.models import Notification, NotificationStatus, OutboxEntry
from notifications.services.accept import notification_accept
from notifier.api.errors import ApplicationError
from users.tests.factories import DeviceFactory, UserFactory


def _accept(user, **overrides):
    fields = {
        "caller": "key:1",
        "request_id": f"req-{uuid.uuid4()}",
        "notification_type": "email",
        "user_id": user.id,
        "template_code": "welcome",
        "variables": {"name": "Ada", "code": "42"},
        "correlation_id": "corr-1",
    }
    fields.update(overrides)
    return notification_accept(**fields)


@pytest.mark.django_db
def test_accept_writes_the_notification_and_its_outbox_entry_together(user, email_template):
    result = _accept(user)

    notification = Notification.objects.get(pk=result.notification.pk)
    assert result.created is True
    assert notification.status == NotificationStatus.PENDING
    assert notification.correlation_id == "corr-1"
    assert OutboxEntry.objects.filter(notification=notification).count() == 1


@pytest.mark.django_db
def test_a_repeat_with_the_same_body_returns_the_original(user, email_template):
    first = _accept(user, request_id="same")
    second = _accept(user, request_id="same")

    assert second.created is False
    assert second.notification.pk == first.notification.pk
    assert Notification.objects.count() == 1


@pytest.mark.django_db
def test_a_repeat_with_another_body_is_a_conflict(user, email_template):
    _accept(user, request_id="same")

    with pytest.raises(ApplicationError) as error:
        _accept(user, request_id="same", variables={"name": "Bob", "code": "1"})

    assert error.value.status == 409
    assert error.value.code == "idempotency_conflict"
    assert Notification.objects.count() == 1


@pytest.mark.django_db
def test_request_ids_are_scoped_per_caller(user, email_template):
    _accept(user, request_id="same", caller="key:1")
    _accept(user, request_id="same", caller="key:2")

    assert Notification.objects.count() == 2


@pytest.mark.django_db
def test_after_a_redis_flush_the_database_still_refuses_the_duplicate(user, email_template):
    first = _accept(user, request_id="flushed")
    get_redis_connection("default").flushdb()

    second = _accept(user, request_id="flushed")

    assert second.created is False
    assert second.notification.pk == first.notification.pk
    assert Notification.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_duplicates_make_exactly_one_notification(email_template):
    user = UserFactory()
    results: list = []
    errors: list = []
    barrier = threading.Barrier(50)

    def post() -> None:
        try:
            barrier.wait()
            results.append(_accept(user, request_id="storm"))
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Notification.objects.filter(request_id="storm").count() == 1
    assert sum(1 for r in results if r.created) == 1
    assert len({r.notification.pk for r in results}) == 1


@pytest.mark.django_db
def test_a_disabled_channel_is_recorded_as_skipped_and_not_queued(email_template):
    user = UserFactory(preferences={"email": False, "push": True})

    result = _accept(user)

    assert result.notification.status == NotificationStatus.SKIPPED
    assert result.notification.error == "the user has disabled email notifications"
    assert not OutboxEntry.objects.exists()


@pytest.mark.django_db
def test_a_push_without_an_active_device_is_skipped(push_template):
    user = UserFactory()
    DeviceFactory(user=user, active=False)

    result = _accept(
        user, notification_type="push", template_code="alert", variables={"name": "A", "message": "m"}
    )

    assert result.notification.status == NotificationStatus.SKIPPED
    assert result.notification.error == "the user has no active push device"


@pytest.mark.django_db
def test_an_unknown_user_is_a_400_and_writes_nothing(email_template):
    with pytest.raises(ApplicationError) as error:
        _accept(UserFactory.build(), request_id="x")

    assert error.value.status == 400
    assert "user_id" in error.value.data
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_a_template_of_another_type_is_a_400(user, email_template):
    with pytest.raises(ApplicationError) as error:
        _accept(user, notification_type="push")

    assert error.value.status == 400
    assert "template_code" in error.value.data
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_missing_template_variables_are_a_400_naming_them(user, email_template):
    with pytest.raises(ApplicationError) as error:
        _accept(user, variables={})

    assert error.value.status == 400
    assert error.value.data["missing"] == ["code", "name"]
    assert not Notification.objects.exists()
