"""Topics: created and changed by API keys and staff, subscribers added and removed in bulk (all or nothing),
and a user's own token listing and leaving the topics they are in."""

import uuid

import pytest
from django.test import override_settings

from notifications.models import Broadcast, Topic, TopicSubscription
from users.tests.factories import UserFactory, users_bulk

URL = "/api/v1/topics/"


def _topic(client, key="product-news", name="Product news"):
    return client.post(URL, {"key": key, "name": name}, format="json")


def _subscribe(client, key, users, method="post"):
    body = {"user_ids": [str(user.id) for user in users]}
    return getattr(client, method)(f"{URL}{key}/subscribers", body, format="json")


@pytest.mark.django_db
def test_a_topic_is_created_listed_renamed_and_deleted(service_client):
    created = _topic(service_client)
    listed = service_client.get(URL)
    renamed = service_client.patch(
        f"{URL}product-news", {"name": "News", "description": "Monthly"}, format="json"
    )
    deleted = service_client.delete(f"{URL}product-news")

    assert created.status_code == 201
    assert created.json()["data"] == {
        "key": "product-news",
        "name": "Product news",
        "description": "",
        "subscribers": 0,
        "created_at": created.json()["data"]["created_at"],
        "updated_at": created.json()["data"]["updated_at"],
    }
    assert [t["key"] for t in listed.json()["data"]] == ["product-news"]
    assert listed.json()["meta"]["total"] == 1
    assert (renamed.json()["data"]["name"], renamed.json()["data"]["description"]) == ("News", "Monthly")
    assert deleted.status_code == 200
    assert not Topic.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [{"key": "has space", "name": "x"}, {"key": "k"}, {"name": "x"}, {"key": "k" * 101, "name": "x"}]
)
def test_an_invalid_topic_is_refused_and_not_written(service_client, body):
    response = service_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert not Topic.objects.exists()


@pytest.mark.django_db
def test_a_taken_key_is_a_conflict(service_client):
    _topic(service_client)

    response = _topic(service_client, name="Another")

    assert response.status_code == 409
    assert Topic.objects.get().name == "Product news"


@pytest.mark.django_db
def test_subscribers_are_added_in_bulk_once_and_listed_in_user_order(service_client):
    _topic(service_client)
    users = users_bulk(5)

    first = _subscribe(service_client, "product-news", users[:3] + users[:1])
    again = _subscribe(service_client, "product-news", users)
    listed = service_client.get(f"{URL}product-news/subscribers?limit=2")

    assert first.json()["data"] == {"requested": 3, "changed": 3, "subscribers": 3}
    assert again.json()["data"] == {"requested": 5, "changed": 2, "subscribers": 5}
    assert [s["user_id"] for s in listed.json()["data"]] == sorted(str(u.id) for u in users)[:2]
    assert listed.json()["meta"]["total"] == 5
    assert service_client.get(f"{URL}product-news").json()["data"]["subscribers"] == 5


@pytest.mark.django_db
def test_an_unknown_or_deactivated_user_refuses_the_whole_call(service_client):
    _topic(service_client)
    known = users_bulk(2)
    inactive = UserFactory(is_active=False)
    unknown = uuid.uuid4()

    response = service_client.post(
        f"{URL}product-news/subscribers",
        {"user_ids": [str(known[0].id), str(unknown), str(inactive.id), str(known[1].id)]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["data"]["unknown_user_ids"] == [str(unknown), str(inactive.id)]
    assert not TopicSubscription.objects.exists()


@pytest.mark.django_db
@override_settings(TOPIC_SUBSCRIBERS_MAX_PER_CALL=3)
def test_more_user_ids_than_the_limit_is_413_and_nothing_written(service_client):
    _topic(service_client)

    response = _subscribe(service_client, "product-news", users_bulk(4))

    assert response.status_code == 413
    assert not TopicSubscription.objects.exists()


@pytest.mark.django_db
def test_subscribers_are_removed_in_bulk(service_client):
    _topic(service_client)
    users = users_bulk(4)
    _subscribe(service_client, "product-news", users)

    response = _subscribe(service_client, "product-news", [*users[:2], UserFactory.build()], method="delete")

    assert response.json()["data"] == {"requested": 3, "changed": 2, "subscribers": 2}
    assert set(TopicSubscription.objects.values_list("user_id", flat=True)) == {users[2].id, users[3].id}


@pytest.mark.django_db
def test_ten_thousand_subscribers_in_one_call(service_client):
    _topic(service_client)
    users = users_bulk(10_000)

    response = _subscribe(service_client, "product-news", users)

    assert response.status_code == 200
    assert response.json()["data"] == {"requested": 10_000, "changed": 10_000, "subscribers": 10_000}


@pytest.mark.django_db
def test_an_unknown_topic_is_404(service_client):
    assert service_client.get(f"{URL}nope").status_code == 404
    assert _subscribe(service_client, "nope", users_bulk(1)).status_code == 404
    assert not TopicSubscription.objects.exists()


@pytest.mark.django_db
def test_a_user_token_can_neither_create_topics_nor_add_anyone(user_client, user, other_user):
    Topic.objects.create(key="product-news", name="Product news")

    created = _topic(user_client, key="mine")
    added_self = _subscribe(user_client, "product-news", [user])
    added_other = _subscribe(user_client, "product-news", [other_user])
    listed = user_client.get(URL)

    assert [r.status_code for r in (created, added_self, added_other, listed)] == [403, 403, 403, 403]
    assert not TopicSubscription.objects.exists()
    assert Topic.objects.count() == 1


@pytest.mark.django_db
def test_a_user_lists_and_leaves_their_own_topics(user_client, user):
    news = Topic.objects.create(key="product-news", name="Product news")
    alerts = Topic.objects.create(key="alerts", name="Alerts")
    Topic.objects.create(key="other", name="Not theirs")
    TopicSubscription.objects.create(topic=news, user=user)
    TopicSubscription.objects.create(topic=alerts, user=user)

    listed = user_client.get(f"/api/v1/users/{user.id}/topics")
    left = user_client.delete(f"/api/v1/users/{user.id}/topics/alerts")
    left_again = user_client.delete(f"/api/v1/users/{user.id}/topics/alerts")

    assert [t["key"] for t in listed.json()["data"]] == ["alerts", "product-news"]
    assert left.status_code == 200
    assert left_again.status_code == 404
    assert list(TopicSubscription.objects.values_list("topic__key", flat=True)) == ["product-news"]


@pytest.mark.django_db
def test_a_user_cannot_see_or_change_anothers_topics(user_client, other_user):
    news = Topic.objects.create(key="product-news", name="Product news")
    TopicSubscription.objects.create(topic=news, user=other_user)

    listed = user_client.get(f"/api/v1/users/{other_user.id}/topics")
    left = user_client.delete(f"/api/v1/users/{other_user.id}/topics/product-news")

    assert (listed.status_code, left.status_code) == (404, 404)
    assert TopicSubscription.objects.count() == 1


@pytest.mark.django_db
def test_a_service_takes_a_recipient_out_of_a_topic_but_not_a_staff_member(service_client, user, staff_user):
    news = Topic.objects.create(key="product-news", name="Product news")
    TopicSubscription.objects.create(topic=news, user=user)
    TopicSubscription.objects.create(topic=news, user=staff_user)

    recipient = service_client.delete(f"/api/v1/users/{user.id}/topics/product-news")
    staff = service_client.delete(f"/api/v1/users/{staff_user.id}/topics/product-news")

    assert (recipient.status_code, staff.status_code) == (200, 404)
    assert list(TopicSubscription.objects.values_list("user_id", flat=True)) == [staff_user.id]


@pytest.mark.django_db
def test_deleting_a_topic_keeps_its_broadcasts_with_its_key(service_client):
    topic = Topic.objects.create(key="product-news", name="Product news")
    broadcast = Broadcast.objects.create(
        caller="key:x", request_id="r", request_hash="h", topic=topic, topic_key="product-news",
        notification_type="email", template_code="welcome",
    )  # fmt: skip

    service_client.delete(f"{URL}product-news")

    broadcast.refresh_from_db()
    assert (broadcast.topic_id, broadcast.topic_key) == (None, "product-news")
