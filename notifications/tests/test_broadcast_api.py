"""Broadcasts: a send to a topic's subscribers or to a list of users, answered at once, then expanded by the
fan-out into one notification per recipient, each created once whatever happens to the fan-out."""

import uuid

import pytest
from django.test import override_settings

from notifications.models import (
    Broadcast,
    BroadcastStatus,
    Notification,
    NotificationStatus,
    OutboxEntry,
    Topic,
    TopicSubscription,
)
from notifications.services.broadcast import broadcast_expand_once
from notifications.services.preferences import NO_PUSH_DEVICE
from notifications.tests.factories import send_body
from templates_app.tests.factories import TemplateFactory, TemplateVersionFactory
from users.models import User
from users.tests.factories import DeviceFactory, UserFactory, users_bulk

URL = "/api/v1/notifications/"


def _topic_with(users, key="product-news"):
    topic = Topic.objects.create(key=key, name=key)
    TopicSubscription.objects.bulk_create([TopicSubscription(topic=topic, user=user) for user in users])
    return topic


def _topic_send(**overrides):
    body = {
        "notification_type": "email",
        "topic": "product-news",
        "template_code": "welcome",
        "variables": {"name": "everyone", "code": "7"},
        "request_id": f"news-{uuid.uuid4()}",
    }
    body.update(overrides)
    return body


def _expand_all(chunk=1000):
    rounds = 0
    while broadcast_expand_once(chunk=chunk):
        rounds += 1
    return rounds


@pytest.mark.django_db
def test_a_topic_send_answers_202_with_the_broadcast_and_writes_no_notification_yet(
    service_client, email_template
):
    _topic_with(users_bulk(3))
    body = _topic_send()

    response = service_client.post(URL, body, format="json")

    data = response.json()["data"]
    broadcast = Broadcast.objects.get()
    assert response.status_code == 202
    assert data == {
        "broadcast_id": str(broadcast.id),
        "request_id": body["request_id"],
        "recipients": 3,
        "status": "expanding",
    }
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_the_fan_out_creates_one_notification_per_subscriber_in_chunks(service_client, email_template):
    users = users_bulk(5)
    _topic_with(users)
    broadcast_id = service_client.post(URL, _topic_send(), format="json").json()["data"]["broadcast_id"]

    rounds = _expand_all(chunk=2)

    broadcast = Broadcast.objects.get()
    notifications = Notification.objects.filter(broadcast=broadcast)
    assert rounds == 3
    assert (broadcast.status, broadcast.notifications_created) == (BroadcastStatus.COMPLETE, 5)
    assert broadcast.completed_at is not None
    assert sorted(n.user_id for n in notifications) == sorted(u.id for u in users)
    assert {n.request_id for n in notifications} == {f"broadcast:{broadcast_id}:{u.id}" for u in users}
    assert {(n.status, n.caller, n.template_code) for n in notifications} == {
        (NotificationStatus.PENDING, broadcast.caller, "welcome")
    }
    assert OutboxEntry.objects.filter(notification__broadcast=broadcast).count() == 5


@pytest.mark.django_db
def test_a_repeated_or_interrupted_fan_out_creates_each_notification_once(service_client, email_template):
    users = users_bulk(6)
    _topic_with(users)
    service_client.post(URL, _topic_send(), format="json")
    _expand_all(chunk=4)
    # As if the fan-out had died after writing the notifications, before its cursor moved: it starts over.
    Broadcast.objects.update(status=BroadcastStatus.EXPANDING, cursor=None, notifications_created=0)

    _expand_all(chunk=4)

    assert Notification.objects.count() == 6
    assert Broadcast.objects.get().notifications_created == 0  # nothing new was written the second time
    assert OutboxEntry.objects.count() == 6


@pytest.mark.django_db
def test_a_list_send_reaches_each_distinct_user(service_client, email_template):
    users = users_bulk(4)
    ids = [str(u.id) for u in users]

    response = service_client.post(URL, _topic_send(user_ids=ids), format="json")

    assert response.status_code == 400  # topic and user_ids both given
    body = _topic_send(user_ids=[*ids, ids[0]])
    del body["topic"]
    accepted = service_client.post(URL, body, format="json")
    _expand_all()
    assert accepted.status_code == 202
    assert accepted.json()["data"]["recipients"] == 4
    assert sorted(Notification.objects.values_list("user_id", flat=True)) == sorted(u.id for u in users)


@pytest.mark.django_db
def test_each_recipients_preferences_decide_with_the_reason(service_client, push_template):
    with_device, without_device, push_off = users_bulk(3)
    DeviceFactory(user=with_device)
    DeviceFactory(user=push_off)
    User.objects.filter(pk=push_off.pk).update(preferences={"email": True, "push": False})
    _topic_with([with_device, without_device, push_off])
    body = _topic_send(
        notification_type="push", template_code="alert", variables={"name": "x", "message": "m"}
    )

    service_client.post(URL, body, format="json")
    _expand_all()

    by_user = {n.user_id: n for n in Notification.objects.all()}
    assert (by_user[with_device.id].status, by_user[with_device.id].error) == (NotificationStatus.PENDING, "")
    assert (by_user[without_device.id].status, by_user[without_device.id].error) == (
        NotificationStatus.SKIPPED,
        NO_PUSH_DEVICE,
    )
    assert (by_user[push_off.id].status, by_user[push_off.id].error) == (
        NotificationStatus.SKIPPED,
        "the user has disabled push notifications",
    )
    assert list(OutboxEntry.objects.values_list("notification__user_id", flat=True)) == [with_device.id]


@pytest.mark.django_db
def test_each_recipient_gets_the_language_they_read_when_the_template_has_it(service_client, german_welcome):
    french_needs_more = TemplateFactory(code="welcome", notification_type="email", language="fr")
    french_needs_more.active_version = TemplateVersionFactory(
        template=french_needs_more, version=1, subject="{{salutation}}", body="{{code}}",
        variables={"required": ["code", "salutation"], "optional": []},
    )  # fmt: skip
    french_needs_more.save()
    reader_de, reader_fr, reader_none, reader_ja = users_bulk(4)
    for reader, language in ((reader_de, "de"), (reader_fr, "fr"), (reader_ja, "ja")):
        User.objects.filter(pk=reader.pk).update(language=language)
    _topic_with([reader_de, reader_fr, reader_none, reader_ja])

    service_client.post(URL, _topic_send(), format="json")
    _expand_all()

    languages = dict(Notification.objects.values_list("user_id", "language"))
    # French lacks a variable the send gives not: the default; Japanese has no template: the default too.
    assert languages == {reader_de.id: "de", reader_fr.id: "", reader_none.id: "", reader_ja.id: ""}


@pytest.mark.django_db
def test_a_broadcast_naming_a_language_keeps_it_for_everyone(service_client, email_template):
    reader_de = users_bulk(1)[0]
    User.objects.filter(pk=reader_de.pk).update(language="de")
    _topic_with([reader_de])

    service_client.post(URL, _topic_send(language="en"), format="json")
    _expand_all()

    assert Notification.objects.get().language == "en"


@pytest.mark.django_db
def test_only_subscribers_at_acceptance_and_still_active_are_reached(service_client, email_template):
    early, deactivated = users_bulk(2)
    topic = _topic_with([early, deactivated])
    service_client.post(URL, _topic_send(), format="json")
    late = UserFactory()
    TopicSubscription.objects.create(topic=topic, user=late)
    User.objects.filter(pk=deactivated.pk).update(is_active=False)

    _expand_all()

    assert list(Notification.objects.values_list("user_id", flat=True)) == [early.id]
    assert Broadcast.objects.get().notifications_created == 1


@pytest.mark.django_db
def test_a_repeat_answers_200_with_the_same_broadcast_and_another_body_409(service_client, email_template):
    _topic_with(users_bulk(2))
    body = _topic_send()
    first = service_client.post(URL, body, format="json")

    repeat = service_client.post(URL, body, format="json")
    conflict = service_client.post(URL, {**body, "priority": 9}, format="json")

    assert repeat.status_code == 200
    assert repeat.json()["data"]["broadcast_id"] == first.json()["data"]["broadcast_id"]
    assert conflict.status_code == 409
    assert conflict.json()["data"]["notification_id"] == first.json()["data"]["broadcast_id"]
    assert Broadcast.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"topic": "nope"}, "topic"),
        ({"template_code": "missing"}, "template_code"),
        ({"variables": {"name": "x"}}, "variables"),
        ({"user_id": "0d9b2d7e-8c3b-4b59-9d2f-3d2f1d9c9a10"}, "non_field_errors"),
        ({"topic": "has space"}, "topic"),
        ({"priority": 11}, "priority"),
    ],
)
def test_an_invalid_broadcast_is_400_and_writes_nothing(service_client, email_template, overrides, field):
    _topic_with(users_bulk(1))

    response = service_client.post(URL, _topic_send(**overrides), format="json")

    assert response.status_code == 400
    assert field in response.json()["data"]
    assert not Broadcast.objects.exists()


@pytest.mark.django_db
def test_a_list_send_naming_an_unknown_user_is_400_naming_them(service_client, email_template):
    known = users_bulk(1)[0]
    unknown = uuid.uuid4()
    body = _topic_send(user_ids=[str(known.id), str(unknown)])
    del body["topic"]

    response = service_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["data"]["unknown_user_ids"] == [str(unknown)]
    assert not Broadcast.objects.exists()


@pytest.mark.django_db
@override_settings(BROADCAST_USER_IDS_MAX=2)
def test_more_user_ids_than_the_limit_is_413(service_client, email_template):
    body = _topic_send(user_ids=[str(u.id) for u in users_bulk(3)])
    del body["topic"]

    response = service_client.post(URL, body, format="json")

    assert response.status_code == 413
    assert not Broadcast.objects.exists()


@pytest.mark.django_db
def test_a_topic_without_subscribers_completes_at_once(service_client, email_template):
    _topic_with([])

    response = service_client.post(URL, _topic_send(), format="json")

    assert response.json()["data"]["recipients"] == 0
    assert response.json()["data"]["status"] == "complete"
    assert broadcast_expand_once() == 0


@pytest.mark.django_db
def test_a_single_send_may_not_use_the_broadcast_request_id_namespace(service_client, user, email_template):
    response = service_client.post(URL, send_body(user, request_id="broadcast:x:y"), format="json")

    assert response.status_code == 400
    assert "request_id" in response.json()["data"]
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_a_broadcast_shows_its_progress_and_is_listed(service_client, email_template):
    users = users_bulk(3)
    User.objects.filter(pk=users[0].pk).update(preferences={"email": False, "push": True})
    _topic_with(users)
    broadcast_id = service_client.post(URL, _topic_send(), format="json").json()["data"]["broadcast_id"]
    _expand_all()

    detail = service_client.get(f"/api/v1/broadcasts/{broadcast_id}").json()["data"]
    listed = service_client.get("/api/v1/broadcasts/?topic=product-news&status=complete").json()
    other = service_client.get("/api/v1/broadcasts/?topic=elsewhere").json()

    assert detail["recipients"] == 3
    assert detail["notifications_created"] == 3
    assert detail["status"] == "complete"
    assert detail["topic"] == "product-news"
    assert detail["notifications_by_status"]["pending"] == 2
    assert detail["notifications_by_status"]["skipped"] == 1
    assert detail["notifications_by_status"]["sent"] == 0
    assert [b["broadcast_id"] for b in listed["data"]] == [broadcast_id]
    assert other["data"] == []


@pytest.mark.django_db
def test_broadcasts_are_for_keys_and_staff(user_client, staff_client, email_template):
    _topic_with(users_bulk(1))

    sent_by_user = user_client.post(URL, _topic_send(), format="json")
    listed_by_user = user_client.get("/api/v1/broadcasts/")
    sent_by_staff = staff_client.post(URL, _topic_send(), format="json")

    assert (sent_by_user.status_code, listed_by_user.status_code, sent_by_staff.status_code) == (
        403,
        403,
        202,
    )
    assert Broadcast.objects.count() == 1


@pytest.mark.django_db
def test_an_unknown_broadcast_is_404(service_client):
    assert service_client.get(f"/api/v1/broadcasts/{uuid.uuid4()}").status_code == 404
    assert service_client.get("/api/v1/broadcasts/not-a-uuid").status_code == 404
    assert service_client.get("/api/v1/broadcasts/?status=odd").status_code == 400
