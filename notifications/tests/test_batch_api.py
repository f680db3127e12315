"""POST /api/v1/notifications/batch: one result per item, in order; each item a single send with its own
idempotency; valid items accepted beside invalid ones; nothing half written."""

import pytest
from django.test import override_settings

from notifications.models import Notification, NotificationStatus, OutboxEntry
from notifications.services.accept import idempotency_key
from notifications.tests.factories import send_body
from users.tests.factories import UserFactory

URL = "/api/v1/notifications/batch"
SINGLE_URL = "/api/v1/notifications/"


def _post(client, items):
    return client.post(URL, {"notifications": items}, format="json")


@pytest.mark.django_db
def test_every_item_is_accepted_with_its_outbox_entry(service_client, user, email_template):
    items = [send_body(user, request_id=f"b-{i}") for i in range(5)]

    response = _post(service_client, items)

    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert body["meta"] == {"total": 5, "accepted": 5, "repeated": 0, "conflicts": 0, "invalid": 0}
    assert [r["index"] for r in body["data"]] == [0, 1, 2, 3, 4]
    assert [r["request_id"] for r in body["data"]] == [f"b-{i}" for i in range(5)]
    assert {(r["http_status"], r["status"], r["error"]) for r in body["data"]} == {(202, "pending", None)}
    ids = [r["notification_id"] for r in body["data"]]
    assert Notification.objects.filter(id__in=ids, status=NotificationStatus.PENDING).count() == 5
    assert OutboxEntry.objects.filter(notification_id__in=ids).count() == 5


@pytest.mark.django_db
def test_a_mix_of_valid_invalid_repeated_and_conflicting_items(service_client, user, email_template):
    earlier = service_client.post(SINGLE_URL, send_body(user, request_id="seen"), format="json").json()[
        "data"
    ]
    items = [
        send_body(user, request_id="new-1"),
        send_body(user, request_id="bad-type", notification_type="fax"),
        send_body(user, request_id="seen"),  # the same body as before: a repeat
        send_body(user, request_id="seen", priority=9),  # another body: a conflict
        send_body(user, request_id="no-vars", variables={}),
        send_body(UserFactory.build(), request_id="no-user"),
        send_body(user, request_id="no-template", template_code="missing"),
        {"request_id": "empty"},
        send_body(user, request_id="new-2"),
    ]

    response = _post(service_client, items)

    body = response.json()
    data = body["data"]
    assert response.status_code == 200
    assert [r["http_status"] for r in data] == [202, 400, 200, 409, 400, 400, 400, 400, 202]
    assert [r["error"] for r in data] == [
        None, "validation_error", None, "idempotency_conflict", "missing_variables", "validation_error",
        "validation_error", "validation_error", None,
    ]  # fmt: skip
    assert "notification_type" in data[1]["data"]
    assert data[2]["notification_id"] == earlier["notification_id"]
    assert data[3]["data"] == {"notification_id": earlier["notification_id"]}
    assert data[4]["data"]["missing"] == ["code", "name"]
    assert "user_id" in data[5]["data"]
    assert "template_code" in data[6]["data"]
    assert set(data[7]["data"]) >= {"notification_type", "user_id", "template_code"}
    assert body["meta"] == {"total": 9, "accepted": 2, "repeated": 1, "conflicts": 1, "invalid": 5}
    # Only the two new items were written, each with its outbox entry.
    assert Notification.objects.count() == 3
    written = Notification.objects.filter(request_id__in=["new-1", "new-2"])
    assert OutboxEntry.objects.filter(notification__in=written).count() == 2


@pytest.mark.django_db
def test_a_request_id_repeated_inside_the_batch_is_written_once(service_client, user, email_template):
    items = [
        send_body(user, request_id="twice"),
        send_body(user, request_id="twice"),
        send_body(user, request_id="twice", priority=1),
    ]

    data = _post(service_client, items).json()["data"]

    assert [r["http_status"] for r in data] == [202, 200, 409]
    assert data[0]["notification_id"] == data[1]["notification_id"]
    assert Notification.objects.filter(request_id="twice").count() == 1


@pytest.mark.django_db
def test_sending_the_same_batch_twice_writes_nothing_new(service_client, user, email_template):
    items = [send_body(user, request_id=f"again-{i}") for i in range(3)]
    first = _post(service_client, items).json()["data"]

    second = _post(service_client, items).json()

    assert [r["http_status"] for r in second["data"]] == [200, 200, 200]
    assert [r["notification_id"] for r in second["data"]] == [r["notification_id"] for r in first]
    assert Notification.objects.count() == 3


@pytest.mark.django_db
def test_a_batch_item_is_a_repeat_for_a_single_send_too(service_client, user, email_template):
    """Both ways of sending share idempotency: the batch remembers its items for the single send."""
    item = send_body(user, request_id="shared")
    [result] = _post(service_client, [item]).json()["data"]

    single = service_client.post(SINGLE_URL, item, format="json")

    assert single.status_code == 200
    assert single.json()["data"]["notification_id"] == result["notification_id"]


@pytest.mark.django_db
def test_skipped_items_are_written_without_an_outbox_entry(service_client, email_template):
    quiet = UserFactory(preferences={"email": False, "push": True})

    [result] = _post(service_client, [send_body(quiet)]).json()["data"]

    assert (result["http_status"], result["status"]) == (202, "skipped")
    assert not OutboxEntry.objects.filter(notification_id=result["notification_id"]).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"notifications": []},
        {"notifications": "x"},
        {"notifications": [1, 2]},
        [],
        {"notifications": None},
    ],
    ids=["no-list", "empty", "string", "not-objects", "array", "null"],
)
def test_a_malformed_envelope_is_400_and_writes_nothing(service_client, body):
    response = service_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert Notification.objects.count() == 0


@pytest.mark.django_db
def test_too_many_items_is_413_and_writes_nothing(service_client, user, email_template):
    with override_settings(NOTIFICATION_BATCH_MAX=3):
        response = _post(service_client, [send_body(user) for _ in range(4)])

    assert response.status_code == 413
    assert Notification.objects.count() == 0


@pytest.mark.django_db
def test_the_rate_limit_counts_items_not_requests(service_client, user, email_template, settings):
    settings.NOTIFICATION_RATE_LIMIT_PER_MINUTE = 5

    first = _post(service_client, [send_body(user) for _ in range(4)])
    second = _post(service_client, [send_body(user) for _ in range(2)])

    assert first.status_code == 200
    assert second.status_code == 429
    assert int(second["Retry-After"]) >= 1
    assert Notification.objects.count() == 4


@pytest.mark.django_db
def test_users_cannot_send_batches(user_client, user, email_template):
    response = _post(user_client, [send_body(user)])

    assert response.status_code == 403
    assert Notification.objects.count() == 0


@pytest.mark.django_db
def test_staff_may_send_batches(staff_client, user, email_template):
    response = _post(staff_client, [send_body(user)])

    assert response.json()["data"][0]["http_status"] == 202


@pytest.mark.django_db
def test_the_bulk_routes_take_bodies_larger_than_the_other_routes(
    service_client, user, email_template, settings
):
    settings.API_MAX_BODY_BYTES = 2_000
    items = [send_body(user) for _ in range(30)]  # ~5 KB
    big = "y" * 3000

    assert _post(service_client, items).status_code == 200
    # The send itself is a bulk route: a broadcast lists up to 10,000 user ids.
    assert (
        service_client.post(
            SINGLE_URL, {**send_body(user), "metadata": {"x": big}}, format="json"
        ).status_code
        == 202
    )
    assert service_client.post("/api/v1/topics/", {"key": "k", "name": big}, format="json").status_code == 413


@pytest.mark.django_db
def test_the_redis_fast_path_learns_the_new_items(service_client, user, email_template):
    from django.core.cache import cache

    [result] = _post(service_client, [send_body(user, request_id="remembered")]).json()["data"]

    assert (
        cache.get(
            idempotency_key(
                "key:" + service_client._credentials["HTTP_X_API_KEY"].split(".")[0], "remembered"
            )
        )
        == result["notification_id"]
    )


@pytest.mark.django_db
def test_a_user_deleted_meanwhile_refuses_only_their_items(service_client, user, email_template, monkeypatch):
    from notifications.services import accept_batch
    from users.selectors import user_profiles_get

    gone = UserFactory()
    profiles = user_profiles_get(user_ids=[user.id, gone.id])
    gone.delete()  # after the check read the profiles, before the insert
    monkeypatch.setattr(accept_batch, "user_profiles_get", lambda user_ids: profiles)

    data = _post(service_client, [send_body(user), send_body(gone)]).json()["data"]

    assert [(r["http_status"], r["error"]) for r in data] == [(202, None), (400, "validation_error")]
    assert Notification.objects.count() == 1
    assert OutboxEntry.objects.count() == 1
