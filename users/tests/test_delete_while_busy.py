"""Deleting a user while their notifications are being accepted or delivered succeeds and leaves nothing
half-deleted (it used to fail with "cannot be stored" when a row appeared mid-cascade)."""

import threading
import time

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from notifications.models import DeliveryAttempt, Notification
from notifications.tests.factories import NotificationFactory
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def _in_other_transaction(
    write, hold_seconds: float, started: threading.Event, errors: list
) -> threading.Thread:
    def run() -> None:
        try:
            with transaction.atomic():
                write()
                started.set()
                time.sleep(hold_seconds)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_delete_waits_for_an_attempt_being_recorded_and_removes_it_too(service_client, user):
    notification = NotificationFactory(user=user)
    started, errors = threading.Event(), []

    def record_outcome() -> None:  # as a worker records: the status and the attempt in one transaction
        Notification.objects.filter(pk=notification.pk).update(status="sent")
        DeliveryAttempt.objects.create(
            notification_id=notification.id,
            number=1,
            worker="w",
            outcome="sent",
            started_at=timezone.now(),
            finished_at=timezone.now(),
        )

    worker = _in_other_transaction(record_outcome, hold_seconds=1.0, started=started, errors=errors)
    assert started.wait(10)

    response = service_client.delete(f"/api/v1/users/{user.id}")
    worker.join()

    assert response.status_code == 200
    assert errors == []
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Notification.objects.exists() and not DeliveryAttempt.objects.exists()


def test_a_notification_accepted_during_the_delete_is_refused_not_half_stored(service_client, user):
    started, errors = threading.Event(), []
    accept = _in_other_transaction(
        lambda: NotificationFactory(user_id=user.id), hold_seconds=1.0, started=started, errors=errors
    )
    assert started.wait(10)

    response = service_client.delete(f"/api/v1/users/{user.id}")
    accept.join()

    assert response.status_code == 200
    assert [type(e) for e in errors] == [IntegrityError]  # its commit found the user gone
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Notification.objects.exists()
