"""delivery_batch_send against the real PostgreSQL and Redis and a real SMTP server, in-process: what a
batch sends, records and puts back into the outbox."""

from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from notifications.delivery import delivery_batch_send
from notifications.models import (
    AttemptOutcome,
    DeliveryAttempt,
    Notification,
    NotificationStatus,
    OutboxEntry,
)
from notifications.providers.breakers import breaker_get
from notifications.providers.registry import provider_for
from notifications.tests.conftest import smtp_provider_settings
from notifications.tests.factories import NotificationFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["pipelining", "one command at a time"])
def smtp(request, smtp_server, settings):
    """The SMTP provider against a real SMTP server, which offers PIPELINING or not."""
    smtp_server.handler.reset()
    smtp_server.handler.pipelining = request.param == "pipelining"
    if smtp_server.controller is None:
        smtp_server.start()
    with smtp_provider_settings(smtp_server, DELIVERY_MAX_RETRIES=2):
        yield smtp_server


def _queued(count: int, email_template, **fields) -> list[Notification]:
    user = fields.pop("user", None) or UserFactory()
    fields = {"status": NotificationStatus.QUEUED, "variables": {"name": "Ada", "code": "7"}, **fields}
    return [NotificationFactory(user=user, **fields) for _ in range(count)]


def _ids(notifications: list[Notification]) -> list[str]:
    return [str(n.id) for n in notifications]


def test_a_batch_sends_each_once_and_records_each(smtp, email_template):
    batch = _queued(5, email_template)

    report = delivery_batch_send(notification_ids=_ids(batch), channel="email", worker="w:1")

    assert (report.sent, report.failed, report.deferred) == (5, [], 0)
    for notification in batch:
        notification.refresh_from_db()
        assert notification.status == NotificationStatus.SENT
        assert notification.attempts == 1
        assert [a.outcome for a in notification.delivery_attempts.all()] == [AttemptOutcome.SENT]
        assert len(smtp.handler.messages_for(str(notification.id))) == 1


def test_several_smtp_connections_share_a_batch_and_each_send_is_recorded(smtp, email_template):
    batch = _queued(7, email_template)

    with override_settings(SMTP_CONNECTIONS=3):
        report = delivery_batch_send(notification_ids=_ids(batch), channel="email", worker="w:1")

    assert (report.sent, report.failed, report.deferred) == (7, [], 0)
    assert len(set(smtp.handler.peers)) == 3  # three kept connections carried the batch
    for notification in batch:
        notification.refresh_from_db()
        assert notification.status == NotificationStatus.SENT
        assert len(smtp.handler.messages_for(str(notification.id))) == 1


def test_a_connection_the_server_closed_meanwhile_is_reopened_without_losing_the_message(
    smtp, email_template
):
    first, second = _queued(1, email_template), _queued(1, email_template)
    delivery_batch_send(notification_ids=_ids(first), channel="email", worker="w:1")
    # The server ends the kept connection while it is idle (a restart, an idle timeout).
    provider = provider_for("email").provider
    provider._backends[0].connection.sock.close()

    report = delivery_batch_send(notification_ids=_ids(second), channel="email", worker="w:1")

    assert report.sent == 1
    assert len(smtp.handler.messages_for(str(second[0].id))) == 1


def test_sent_missing_and_wrong_channel_ids_are_left_alone(smtp, email_template):
    [pending] = _queued(1, email_template)
    [done] = _queued(1, email_template, status=NotificationStatus.SENT)
    [push] = _queued(1, email_template, notification_type="push")
    missing = "00000000-0000-4000-8000-000000000000"

    report = delivery_batch_send(
        notification_ids=[str(pending.id), str(done.id), str(push.id), missing], channel="email", worker="w"
    )

    assert (report.sent, report.already_done) == (1, 3)
    assert smtp.handler.messages_for(str(done.id)) == []
    assert Notification.objects.get(pk=push.pk).status == NotificationStatus.QUEUED


def test_a_notification_another_worker_holds_goes_back_into_the_outbox(smtp, email_template, monkeypatch):
    monkeypatch.setattr("notifications.delivery.claim.BUSY_WAIT_SECONDS", 0.2)
    held, free = _queued(2, email_template)
    db = connection.settings_dict
    other = psycopg.connect(
        dbname=db["NAME"], host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or None
    )
    other.execute("SELECT pg_advisory_lock(hashtextextended(%s::text, 0))", [str(held.id)])
    try:
        report = delivery_batch_send(notification_ids=_ids([held, free]), channel="email", worker="w")
    finally:
        other.close()

    assert (report.sent, report.deferred) == (1, 1)
    assert smtp.handler.messages_for(str(held.id)) == []
    entry = OutboxEntry.objects.get(notification=held)
    assert timedelta(seconds=3) < entry.available_at - timezone.now() <= timedelta(seconds=5)


def test_a_transient_failure_goes_back_into_the_outbox_with_its_backoff(smtp, email_template):
    busy_user = UserFactory(email="full@example.com")
    smtp.handler.always_refuse["full@example.com"] = "452 4.2.2 mailbox full"
    [deferred] = _queued(1, email_template, user=busy_user)
    [fine] = _queued(1, email_template)

    report = delivery_batch_send(notification_ids=_ids([deferred, fine]), channel="email", worker="w")

    deferred.refresh_from_db()
    assert (report.sent, report.deferred) == (1, 1)
    assert (deferred.status, deferred.transient_failures, deferred.attempts) == (
        NotificationStatus.QUEUED,
        1,
        1,
    )
    assert deferred.error.startswith("retrying: recipient deferred: 452")
    assert OutboxEntry.objects.get(notification=deferred).available_at > timezone.now()
    [attempt] = deferred.delivery_attempts.all()
    assert (attempt.number, attempt.outcome) == (1, AttemptOutcome.TRANSIENT_ERROR)


def test_retries_run_out_into_failed_with_a_dead_letter_to_publish(smtp, email_template):
    user = UserFactory(email="full@example.com")
    smtp.handler.always_refuse["full@example.com"] = "452 4.2.2 mailbox full"
    [notification] = _queued(1, email_template, user=user, transient_failures=2, attempts=2)

    report = delivery_batch_send(notification_ids=_ids([notification]), channel="email", worker="w")

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED
    assert notification.error.startswith("retries exhausted after 3 transient failures")
    assert [f.notification_id for f in report.failed] == [str(notification.id)]
    assert not OutboxEntry.objects.filter(notification=notification).exists()


def test_a_permanent_failure_fails_only_its_notification(smtp, email_template):
    gone = UserFactory(email="gone@example.com")
    smtp.handler.always_refuse["gone@example.com"] = "550 5.1.1 no such mailbox"
    [refused] = _queued(1, email_template, user=gone)
    others = _queued(3, email_template)

    report = delivery_batch_send(
        notification_ids=_ids([*others[:1], refused, *others[1:]]), channel="email", worker="w"
    )

    assert report.sent == 3
    assert [(f.notification_id, f.reason[:28]) for f in report.failed] == [
        (str(refused.id), "permanent: recipient refused")
    ]
    refused.refresh_from_db()
    assert refused.failed_at is not None
    assert [a.outcome for a in refused.delivery_attempts.all()] == [AttemptOutcome.PERMANENT_ERROR]


def test_an_open_breaker_defers_the_batch_without_spending_its_budget(smtp, email_template):
    batch = _queued(3, email_template)
    breaker = breaker_get(provider_for("email").breaker_name)
    breaker.open()
    try:
        report = delivery_batch_send(notification_ids=_ids(batch), channel="email", worker="w")
    finally:
        breaker.close()

    assert (report.sent, report.deferred) == (0, 3)
    assert smtp.handler.messages == []
    for notification in batch:
        notification.refresh_from_db()
        assert (notification.status, notification.transient_failures, notification.attempts) == (
            NotificationStatus.QUEUED, 0, 0,
        )  # fmt: skip
        assert "circuit breaker is open" in notification.error
        assert OutboxEntry.objects.get(notification=notification).available_at > timezone.now()


def test_a_poison_notification_ends_failed_and_is_not_sent(smtp, email_template):
    [notification] = _queued(1, email_template)

    report = delivery_batch_send(
        notification_ids=_ids([notification]), channel="email", worker="w", poison=True
    )

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED
    assert notification.error.startswith("poison: delivered")
    assert [f.notification_id for f in report.failed] == [str(notification.id)]
    assert smtp.handler.messages == []


def test_skips_and_expiry_are_recorded_in_the_same_batch(smtp, email_template, settings):
    [muted] = _queued(1, email_template, user=UserFactory(preferences={"email": False, "push": True}))
    [old] = _queued(1, email_template)
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    [fine] = _queued(1, email_template)

    report = delivery_batch_send(notification_ids=_ids([muted, old, fine]), channel="email", worker="w")

    assert (report.sent, report.skipped, report.failed) == (1, 1, [])
    assert Notification.objects.get(pk=muted.pk).error == "the user has disabled email notifications"
    expired = Notification.objects.get(pk=old.pk)
    assert (expired.status, expired.error[:8]) == (NotificationStatus.EXPIRED, "expired:")
    assert DeliveryAttempt.objects.filter(notification__in=[muted, old]).count() == 0
