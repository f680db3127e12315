"""Scheduled sends, cancel and expiry against the real PostgreSQL, RabbitMQ and SMTP server: a scheduled
notification waits in the outbox until its send_at, a cancel and a worker never both win, and a
notification past its expiry ends `expired` without being sent."""

import threading
import uuid
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.db import connection, connections
from django.utils import timezone

from notifications.delivery import delivery_batch_send
from notifications.delivery.claim import batch_claim, batch_release
from notifications.models import Broadcast, BroadcastStatus, Notification, NotificationStatus, OutboxEntry
from notifications.selectors import oldest_unfinished_get, outbox_backlog_get, outbox_waiting_get
from notifications.services.broadcast import broadcast_expand_once
from notifications.services.cancel import notification_cancel
from notifications.services.outbox import outbox_relay_once
from notifications.services.publisher import BatchPublisher
from notifications.tests.conftest import purge_queues, smtp_provider_settings
from notifications.tests.factories import NotificationFactory, send_body
from notifications.tests.test_broadcast_api import _topic_send, _topic_with
from users.tests.factories import UserFactory, bearer_client

URL = "/api/v1/notifications/"
VARIABLES = {"name": "Ada", "code": "7"}


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _ahead(**delta: float) -> datetime:
    return (timezone.now() + timedelta(**delta)).replace(microsecond=0)


# --- accepting a schedule ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_send_at_ahead_is_scheduled_and_its_outbox_entry_is_due_then(service_client, email_template):
    user = UserFactory()
    send_at = _ahead(hours=2)

    response = service_client.post(URL, send_body(user, send_at=_iso(send_at)), format="json")

    assert response.status_code == 202, response.json()
    data = response.json()["data"]
    assert data["status"] == "scheduled"
    notification = Notification.objects.get(pk=data["notification_id"])
    assert (notification.status, notification.send_at, notification.expires_at) == (
        "scheduled",
        send_at,
        None,
    )
    assert OutboxEntry.objects.get(notification=notification).available_at == send_at
    detail = service_client.get(f"{URL}{notification.id}").json()["data"]
    assert detail["send_at"] == send_at.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.django_db
def test_a_repeat_with_the_same_schedule_is_the_same_send_and_another_schedule_conflicts(
    service_client, email_template
):
    user = UserFactory()
    body = send_body(user, send_at=_iso(_ahead(hours=1)), ttl_seconds=600)
    first = service_client.post(URL, body, format="json")
    # The same instant written with another offset is the same request.
    same_instant = datetime.fromisoformat(body["send_at"]).astimezone(dt_timezone(timedelta(hours=5)))
    repeat = service_client.post(URL, {**body, "send_at": _iso(same_instant)}, format="json")
    other = service_client.post(URL, {**body, "send_at": _iso(_ahead(hours=3))}, format="json")

    assert (first.status_code, repeat.status_code, other.status_code) == (202, 200, 409)
    assert Notification.objects.count() == 1


@pytest.mark.django_db
def test_a_send_at_in_the_past_means_now(service_client, email_template):
    user = UserFactory()

    response = service_client.post(URL, send_body(user, send_at=_iso(_ahead(minutes=-5))), format="json")

    notification = Notification.objects.get(pk=response.json()["data"]["notification_id"])
    assert (notification.status, notification.send_at) == ("pending", None)
    assert OutboxEntry.objects.get(notification=notification).available_at <= timezone.now()


@pytest.mark.django_db
def test_ttl_seconds_counts_from_the_send_at(service_client, email_template):
    user = UserFactory()
    send_at = _ahead(hours=1)

    response = service_client.post(
        URL, send_body(user, send_at=_iso(send_at), ttl_seconds=300), format="json"
    )

    notification = Notification.objects.get(pk=response.json()["data"]["notification_id"])
    assert notification.expires_at == send_at + timedelta(seconds=300)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"send_at": "2026-12-24T09:00:00"}, "send_at"),  # no offset
        ({"send_at": "tomorrow"}, "send_at"),
        ({"send_at": "far"}, "send_at"),  # beyond SCHEDULE_MAX_DAYS, filled in below
        ({"expires_at": "past"}, "expires_at"),
        ({"send_at": "soon", "expires_at": "before send_at"}, "expires_at"),
        ({"expires_at": "later", "ttl_seconds": 60}, "ttl_seconds"),
        ({"ttl_seconds": 0}, "ttl_seconds"),
        ({"ttl_seconds": 31 * 86400}, "ttl_seconds"),
    ],
)
def test_a_bad_schedule_is_a_400_naming_the_field_and_writes_nothing(
    service_client, email_template, schedule, field
):
    user = UserFactory()
    moments = {
        "far": _iso(_ahead(days=31)),
        "past": _iso(_ahead(minutes=-1)),
        "soon": _iso(_ahead(hours=2)),
        "before send_at": _iso(_ahead(hours=1)),
        "later": _iso(_ahead(hours=1)),
    }
    body = send_body(user, **{key: moments.get(value, value) for key, value in schedule.items()})

    response = service_client.post(URL, body, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()["data"]
    assert not Notification.objects.exists()
    assert not OutboxEntry.objects.exists()


@pytest.mark.django_db
def test_a_batch_schedules_each_item_on_its_own_and_refuses_only_a_bad_one(service_client, email_template):
    user = UserFactory()
    send_at = _ahead(minutes=30)
    items = [
        send_body(user, send_at=_iso(send_at)),
        send_body(user),
        send_body(user, send_at=_iso(_ahead(days=40))),
    ]

    response = service_client.post(f"{URL}batch", {"notifications": items}, format="json")

    results = response.json()["data"]
    assert [(r["http_status"], r["status"]) for r in results] == [
        (202, "scheduled"),
        (202, "pending"),
        (400, None),
    ]
    assert "send_at" in results[2]["data"]
    scheduled = Notification.objects.get(pk=results[0]["notification_id"])
    assert scheduled.send_at == send_at
    assert OutboxEntry.objects.get(notification=scheduled).available_at == send_at
    assert Notification.objects.count() == 2


@pytest.mark.django_db
def test_a_topic_send_schedules_every_recipient(service_client, email_template):
    users = [UserFactory() for _ in range(3)]
    _topic_with(users)
    send_at = _ahead(hours=1)
    expires_at = _ahead(hours=5)

    response = service_client.post(
        URL, _topic_send(send_at=_iso(send_at), expires_at=_iso(expires_at)), format="json"
    )
    broadcast_expand_once()

    assert response.status_code == 202, response.json()
    broadcast = Broadcast.objects.get(pk=response.json()["data"]["broadcast_id"])
    assert (broadcast.send_at, broadcast.expires_at) == (send_at, expires_at)
    rows = list(
        Notification.objects.filter(broadcast=broadcast).values_list("status", "send_at", "expires_at")
    )
    assert rows == [("scheduled", send_at, expires_at)] * 3
    assert set(OutboxEntry.objects.values_list("available_at", flat=True)) == {send_at}


@pytest.mark.django_db
def test_a_scheduled_send_waits_in_the_outbox_and_is_not_a_backlog(service_client, email_template):
    service_client.post(URL, send_body(UserFactory(), send_at=_iso(_ahead(days=2))), format="json")

    assert (outbox_backlog_get(), outbox_waiting_get()) == (0, 1)
    assert oldest_unfinished_get() is None  # waiting by design, not stuck


# --- the relay and the claim ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_relay_publishes_a_scheduled_notification_only_once_it_is_due(broker, email_template):
    purge_queues()
    notification = NotificationFactory(status=NotificationStatus.SCHEDULED, send_at=_ahead(minutes=10))
    OutboxEntry.objects.create(notification=notification, available_at=notification.send_at)
    publisher = BatchPublisher()
    try:
        assert outbox_relay_once(publisher=publisher) == 0
        OutboxEntry.objects.update(available_at=timezone.now())
        Notification.objects.update(send_at=timezone.now())
        assert outbox_relay_once(publisher=publisher) == 1
    finally:
        publisher.close()
        purge_queues()
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.QUEUED
    assert not OutboxEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_worker_claims_neither_a_cancelled_nor_a_not_yet_due_notification(email_template):
    cancelled = NotificationFactory(status=NotificationStatus.CANCELLED)
    early = NotificationFactory(status=NotificationStatus.SCHEDULED, send_at=_ahead(minutes=10))
    due = NotificationFactory(status=NotificationStatus.SCHEDULED, send_at=_ahead(minutes=-1))

    claim = batch_claim(notification_ids=[str(n.id) for n in (cancelled, early, due)], channel="email")
    batch_release()

    assert [str(n.id) for n in claim.claimed] == [str(due.id)]
    assert sorted(claim.done) == sorted([str(cancelled.id), str(early.id)])


# --- cancel ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cancel_ends_a_scheduled_notification_and_removes_its_outbox_entry(
    service_client, api_key, email_template
):
    user = UserFactory()
    created = service_client.post(URL, send_body(user, send_at=_iso(_ahead(hours=1))), format="json")
    notification_id = created.json()["data"]["notification_id"]

    response = service_client.post(f"{URL}{notification_id}/cancel")
    again = service_client.post(f"{URL}{notification_id}/cancel")

    assert response.status_code == 200, response.json()
    assert response.json()["message"] == "Cancelled"
    data = response.json()["data"]
    assert (data["status"], data["cancelled_by"]) == ("cancelled", f"key:{api_key.split('.')[0]}")
    assert data["cancelled_at"] is not None
    assert not OutboxEntry.objects.exists()
    assert again.status_code == 409
    assert again.json()["error"] == "not_cancellable"
    assert again.json()["data"] == {"status": "cancelled"}


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["sent", "delivered", "failed", "skipped", "expired"])
def test_cancel_of_what_is_past_cancelling_is_a_409_with_its_status(staff_client, email_template, status):
    notification = NotificationFactory(status=status)

    response = staff_client.post(f"{URL}{notification.id}/cancel")

    assert response.status_code == 409
    assert response.json()["data"] == {"status": status}
    notification.refresh_from_db()
    assert (notification.status, notification.cancelled_at) == (status, None)


@pytest.mark.django_db
def test_cancel_of_an_unknown_id_is_a_404_and_a_user_may_not_cancel(service_client, email_template):
    user = UserFactory()
    notification = NotificationFactory(user=user, status=NotificationStatus.QUEUED)

    unknown = service_client.post(f"{URL}{uuid.uuid4()}/cancel")
    malformed = service_client.post(f"{URL}not-a-uuid/cancel")
    own = bearer_client(user).post(f"{URL}{notification.id}/cancel")

    assert (unknown.status_code, malformed.status_code, own.status_code) == (404, 404, 403)
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.QUEUED


@pytest.mark.django_db(transaction=True)
def test_cancel_meeting_a_worker_holding_the_claim_is_a_409_and_changes_nothing(email_template):
    notification = NotificationFactory(status=NotificationStatus.QUEUED)
    # Due later: a relay the suite's worker tests left running must not publish it meanwhile.
    OutboxEntry.objects.create(notification=notification, available_at=_ahead(hours=1))
    # A worker's claim: the advisory lock, held by another database session.
    worker = connections.create_connection("default")
    with worker.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s::text, 0))", [str(notification.id)])
    try:
        with pytest.raises(Exception) as refused:
            notification_cancel(notification_id=notification.id, by="key:test")
    finally:
        worker.close()

    assert refused.value.status == 409  # type: ignore[attr-defined]
    assert refused.value.data == {"status": "queued"}  # type: ignore[attr-defined]
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.QUEUED
    assert OutboxEntry.objects.filter(notification=notification).exists()


@pytest.fixture
def smtp(smtp_server):
    smtp_server.handler.reset()
    if smtp_server.controller is None:
        smtp_server.start()
    with smtp_provider_settings(smtp_server):
        yield smtp_server


@pytest.mark.django_db(transaction=True)
def test_a_cancel_racing_a_worker_ends_each_notification_either_sent_or_cancelled_never_both(
    smtp, email_template
):
    user = UserFactory()
    notifications = [
        NotificationFactory(user=user, status=NotificationStatus.QUEUED, variables=VARIABLES)
        for _ in range(40)
    ]
    ids = [str(n.id) for n in notifications]
    cancelled: set[str] = set()
    start = threading.Barrier(2)

    def deliver() -> None:
        try:
            start.wait()
            for index in range(0, len(ids), 4):
                delivery_batch_send(notification_ids=ids[index : index + 4], channel="email", worker="w:1")
        finally:
            connection.close()

    def cancel() -> None:
        try:
            start.wait()
            for notification_id in reversed(ids):
                try:
                    notification_cancel(notification_id=uuid.UUID(notification_id), by="key:race")
                    cancelled.add(notification_id)
                except Exception as exc:
                    assert getattr(exc, "status", None) == 409, exc
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver), threading.Thread(target=cancel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = dict(Notification.objects.filter(pk__in=ids).values_list("id", "status"))
    sent_ids = {notification_id for notification_id in ids if smtp.handler.messages_for(notification_id)}
    for notification_id in ids:
        status = statuses[uuid.UUID(notification_id)]
        messages = len(smtp.handler.messages_for(notification_id))
        if notification_id in cancelled:
            assert (status, messages) == ("cancelled", 0)
        else:
            assert (status, messages) == ("sent", 1)
    assert sent_ids.isdisjoint(cancelled)
    assert len(cancelled) + len(sent_ids) == len(ids)
    # They met: the worker from the front, the cancels from the back.
    assert cancelled and sent_ids, (len(cancelled), len(sent_ids))


# --- expiry ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_notification_past_its_expiry_ends_expired_unsent_and_without_a_dead_letter(smtp, email_template):
    user = UserFactory()
    own_expiry = NotificationFactory(
        user=user,
        status=NotificationStatus.QUEUED,
        expires_at=timezone.now() - timedelta(seconds=1),
        variables=VARIABLES,
    )
    default_expiry = NotificationFactory(user=user, status=NotificationStatus.QUEUED, variables=VARIABLES)
    Notification.objects.filter(pk=default_expiry.pk).update(created_at=timezone.now() - timedelta(days=2))
    # Due only an hour ago (its send_at): within the default deadline, so it is sent.
    scheduled_late = NotificationFactory(
        user=user, status=NotificationStatus.QUEUED, send_at=_ahead(hours=-1), variables=VARIABLES
    )
    Notification.objects.filter(pk=scheduled_late.pk).update(created_at=timezone.now() - timedelta(days=3))

    report = delivery_batch_send(
        notification_ids=[str(n.id) for n in (own_expiry, default_expiry, scheduled_late)],
        channel="email",
        worker="w:1",
    )

    assert (report.sent, report.failed) == (1, [])
    rows = {n.id: n for n in Notification.objects.all()}
    assert rows[own_expiry.id].status == NotificationStatus.EXPIRED
    assert rows[own_expiry.id].error.startswith("expired: not handed to a provider before its expiry")
    assert rows[default_expiry.id].status == NotificationStatus.EXPIRED
    assert "DELIVERY_DEADLINE_SECONDS" in rows[default_expiry.id].error
    assert rows[scheduled_late.id].status == NotificationStatus.SENT
    assert smtp.handler.messages_for(str(own_expiry.id)) == []
    assert smtp.handler.messages_for(str(default_expiry.id)) == []


# --- broadcasts -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cancelling_a_broadcast_stops_its_fan_out_and_cancels_what_no_provider_has(
    service_client, email_template
):
    users = [UserFactory() for _ in range(5)]
    _topic_with(users)
    accepted = service_client.post(URL, _topic_send(send_at=_iso(_ahead(hours=1))), format="json")
    broadcast_id = accepted.json()["data"]["broadcast_id"]
    broadcast_expand_once(chunk=3)  # 3 of 5 recipients so far
    first = Notification.objects.filter(broadcast_id=broadcast_id).order_by("user_id").first()
    Notification.objects.filter(pk=first.pk).update(status=NotificationStatus.SENT)

    response = service_client.post(f"/api/v1/broadcasts/{broadcast_id}/cancel")
    again = service_client.post(f"/api/v1/broadcasts/{broadcast_id}/cancel")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["meta"] == {"cancelled": 2}
    assert body["data"]["status"] == "cancelled"
    assert body["data"]["notifications_by_status"]["cancelled"] == 2
    assert body["data"]["notifications_by_status"]["sent"] == 1
    assert broadcast_expand_once() == 0  # the fan-out stopped where it was
    assert Notification.objects.filter(broadcast_id=broadcast_id).count() == 3
    assert Broadcast.objects.get(pk=broadcast_id).status == BroadcastStatus.CANCELLED
    # Only the entry of the one a provider had is left (its worker removes it); the cancelled ones' are gone.
    assert list(OutboxEntry.objects.values_list("notification_id", flat=True)) == [first.pk]
    assert again.status_code == 409
