"""POST/GET /api/v1/users/{id}/devices and DELETE /api/v1/users/{id}/devices/{token}."""

import uuid

import pytest

from users.models import Device
from users.tests.factories import DeviceFactory, fcm_token

pytestmark = pytest.mark.django_db

AUTHORIZATION_MATRIX = [
    ("anonymous_client", 401),
    ("other_user_client", 404),
    ("user_client", None),  # the success status of the endpoint
    ("service_client", None),
    ("staff_client", None),
]


def list_url(user_id) -> str:
    return f"/api/v1/users/{user_id}/devices"


def detail_url(user_id, token) -> str:
    return f"/api/v1/users/{user_id}/devices/{token}"


# --- POST ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("client_fixture", "status"), AUTHORIZATION_MATRIX)
def test_register_device_authorization(request, user, client_fixture, status):
    token = fcm_token(1)

    response = request.getfixturevalue(client_fixture).post(
        list_url(user.id), {"token": token, "platform": "android"}, format="json"
    )

    assert response.status_code == (status or 201)
    assert Device.objects.filter(token=token, user=user).exists() is (status is None)


def test_register_device_answers_201_with_the_device(user_client, user):
    token = fcm_token(1)

    response = user_client.post(list_url(user.id), {"token": token, "platform": "ios"}, format="json")

    data = response.json()["data"]
    assert response.status_code == 201
    assert (data["token"], data["platform"], data["active"]) == (token, "ios", True)
    assert data["last_seen"] is not None
    assert set(data) == {"token", "platform", "kind", "active", "last_seen", "created_at"}
    assert data["kind"] == "fcm"


def test_register_a_known_token_again_answers_200_and_reactivates_it(user_client, user):
    device = DeviceFactory(user=user, active=False, platform="android", last_seen=None)

    response = user_client.post(list_url(user.id), {"token": device.token, "platform": "web"}, format="json")

    assert response.status_code == 200
    assert response.json()["data"]["active"] is True
    device.refresh_from_db()
    assert (device.active, device.platform) == (True, "web")
    assert device.last_seen is not None
    assert Device.objects.count() == 1


def test_register_a_token_held_by_another_user_moves_it(user_client, user, other_user):
    device = DeviceFactory(user=other_user)

    response = user_client.post(
        list_url(user.id), {"token": device.token, "platform": "android"}, format="json"
    )

    assert response.status_code == 200
    device.refresh_from_db()
    assert device.user_id == user.id
    assert other_user.devices.count() == 0


@pytest.mark.parametrize(
    ("body", "error_field"),
    [
        ({"token": "x", "platform": "blackberry"}, "platform"),
        ({"token": "x"}, "platform"),
        ({"platform": "android"}, "token"),
        ({"token": "", "platform": "android"}, "token"),
        ({"token": "with space", "platform": "android"}, "token"),
        ({"token": "with/slash", "platform": "android"}, "token"),
        ({"token": "nul\x00", "platform": "android"}, "token"),
        ({"token": 123, "platform": "android"}, "token"),
        ({"token": "t" * 1025, "platform": "android"}, "token"),
        ({"token": "x", "platform": 1}, "platform"),
    ],
)
def test_register_device_with_bad_input_is_400_and_writes_nothing(user_client, user, body, error_field):
    response = user_client.post(list_url(user.id), body, format="json")

    assert response.status_code == 400
    assert error_field in response.json()["data"]
    assert Device.objects.count() == 0


def test_register_device_for_an_unknown_user_is_404(service_client):
    response = service_client.post(list_url(uuid.uuid4()), {"token": "abc", "platform": "ios"}, format="json")

    assert response.status_code == 404
    assert Device.objects.count() == 0


# --- GET ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("client_fixture", "status"), AUTHORIZATION_MATRIX)
def test_list_devices_authorization(request, user, client_fixture, status):
    device = DeviceFactory(user=user)

    response = request.getfixturevalue(client_fixture).get(list_url(user.id))

    assert response.status_code == (status or 200)
    if status is None:
        assert [d["token"] for d in response.json()["data"]] == [device.token]


def test_list_devices_shows_only_that_users_devices_paginated(user_client, user, other_user):
    first = DeviceFactory(user=user)
    second = DeviceFactory(user=user, active=False)
    DeviceFactory(user=other_user)

    response = user_client.get(list_url(user.id), {"limit": 1})

    body = response.json()
    assert [d["token"] for d in body["data"]] == [second.token]
    assert body["meta"] == {
        "total": 2,
        "limit": 1,
        "page": 1,
        "total_pages": 2,
        "has_next": True,
        "has_previous": False,
    }
    page_two = user_client.get(list_url(user.id), {"limit": 1, "page": 2}).json()["data"]
    assert [d["token"] for d in page_two] == [first.token]


# --- DELETE -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("client_fixture", "status"), AUTHORIZATION_MATRIX)
def test_delete_device_authorization(request, user, client_fixture, status):
    device = DeviceFactory(user=user)

    response = request.getfixturevalue(client_fixture).delete(detail_url(user.id, device.token))

    assert response.status_code == (status or 200)
    assert Device.objects.filter(pk=device.pk).exists() is (status is not None)


def test_delete_device_with_colons_and_dashes_in_the_token(user_client, user):
    device = DeviceFactory(user=user, token=fcm_token(42))
    assert ":" in device.token and "-" in device.token and len(device.token) > 150

    response = user_client.delete(detail_url(user.id, device.token))

    assert response.status_code == 200
    assert response.json() == {"success": True, "data": None, "error": None, "message": "OK", "meta": None}
    assert Device.objects.count() == 0


def test_delete_another_users_device_through_ones_own_id_is_404(user_client, user, other_user):
    device = DeviceFactory(user=other_user)

    response = user_client.delete(detail_url(user.id, device.token))

    assert response.status_code == 404
    assert Device.objects.filter(pk=device.pk).exists()


def test_delete_unknown_device_is_404(service_client, user):
    response = service_client.delete(detail_url(user.id, "no-such-token"))

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("token", ["bad%20token", "bad%00token", "t" * 1025])
def test_delete_device_with_a_malformed_token_is_404(service_client, user, token):
    DeviceFactory(user=user)

    response = service_client.delete(detail_url(user.id, token))

    assert response.status_code == 404
    assert Device.objects.count() == 1
