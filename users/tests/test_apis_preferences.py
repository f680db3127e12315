"""GET/PATCH /api/v1/users/{id}/preferences."""

import uuid

import pytest

from users.models import User
from users.selectors import user_profile_get
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

AUTHORIZATION_MATRIX = [
    ("anonymous_client", 401),
    ("other_user_client", 404),
    ("user_client", 200),
    ("service_client", 200),
    ("staff_client", 200),
]


def url(user_id) -> str:
    return f"/api/v1/users/{user_id}/preferences"


@pytest.mark.parametrize(("client_fixture", "status"), AUTHORIZATION_MATRIX)
def test_get_preferences_authorization(request, user, client_fixture, status):
    response = request.getfixturevalue(client_fixture).get(url(user.id))

    assert response.status_code == status
    if status == 200:
        assert response.json()["data"] == {"email": True, "push": True}


def test_get_preferences_fills_in_a_missing_channel(service_client):
    user = UserFactory(preferences={"email": False})

    response = service_client.get(url(user.id))

    assert response.json()["data"] == {"email": False, "push": True}


@pytest.mark.parametrize(("client_fixture", "status"), AUTHORIZATION_MATRIX)
def test_patch_preferences_authorization(request, user, client_fixture, status):
    response = request.getfixturevalue(client_fixture).patch(url(user.id), {"push": False}, format="json")

    assert response.status_code == status
    user.refresh_from_db()
    assert user.preferences == {"email": True, "push": status != 200}


def test_patch_preferences_changes_one_channel_and_keeps_the_other(user_client, user):
    response = user_client.patch(url(user.id), {"email": False}, format="json")

    assert response.status_code == 200
    assert response.json()["data"] == {"email": False, "push": True}
    assert User.objects.get(pk=user.pk).preferences == {"email": False, "push": True}


def test_patch_preferences_both_channels(service_client, user):
    response = service_client.patch(url(user.id), {"email": False, "push": False}, format="json")

    assert response.json()["data"] == {"email": False, "push": False}


def test_patch_preferences_is_seen_by_the_cached_profile(service_client, user):
    assert user_profile_get(user_id=user.id).preferences == {"email": True, "push": True}

    service_client.patch(url(user.id), {"push": False}, format="json")

    assert user_profile_get(user_id=user.id).preferences == {"email": True, "push": False}


@pytest.mark.parametrize(
    ("body", "error_field"),
    [
        ({}, "non_field_errors"),
        ({"email": "false"}, "email"),
        ({"email": 0}, "email"),
        ({"push": None}, "push"),
        ({"push": [True]}, "push"),
        ({"sms": True}, "sms"),
        ({"email": True, "sms": True}, "sms"),
        ([True], "non_field_errors"),
    ],
)
def test_patch_preferences_with_bad_input_is_400_and_changes_nothing(user_client, user, body, error_field):
    response = user_client.patch(url(user.id), body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert error_field in response.json()["data"]
    assert User.objects.get(pk=user.pk).preferences == {"email": True, "push": True}


def test_preferences_of_an_unknown_user_is_404(service_client):
    assert service_client.get(url(uuid.uuid4())).status_code == 404
    assert service_client.patch(url(uuid.uuid4()), {"push": False}, format="json").status_code == 404
