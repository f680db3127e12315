"""Who may change which account, and what a credential change needs (see notifier.api.permissions)."""

import uuid

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from users.models import Device, User
from users.tests.factories import DEFAULT_PASSWORD, UserFactory, bearer_client, fcm_token

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-and-unusual-passphrase"


def detail_url(user_id) -> str:
    return f"/api/v1/users/{user_id}"


@pytest.fixture
def superuser(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def other_staff(db):
    return UserFactory(is_staff=True)


def _password_unchanged(account) -> bool:
    account.refresh_from_db()
    return account.check_password(DEFAULT_PASSWORD)


# --- services (API keys) never write staff accounts ---------------------------------------------------------


@pytest.mark.parametrize("target_fixture", ["superuser", "other_staff"])
def test_an_api_key_cannot_change_a_staff_accounts_password(request, service_client, target_fixture):
    target = request.getfixturevalue(target_fixture)

    response = service_client.patch(detail_url(target.id), {"password": NEW_PASSWORD}, format="json")

    assert response.status_code == 404
    assert _password_unchanged(target)


@pytest.mark.parametrize("target_fixture", ["superuser", "other_staff"])
def test_an_api_key_cannot_delete_a_staff_account(request, service_client, target_fixture):
    target = request.getfixturevalue(target_fixture)

    response = service_client.delete(detail_url(target.id))

    assert response.status_code == 404
    assert User.objects.filter(pk=target.pk).exists()


def test_an_api_key_cannot_touch_a_staff_accounts_preferences_or_devices(service_client, superuser):
    preferences = service_client.patch(
        f"{detail_url(superuser.id)}/preferences", {"email": False}, format="json"
    )
    device = service_client.post(
        f"{detail_url(superuser.id)}/devices", {"token": fcm_token(1), "platform": "ios"}, format="json"
    )

    assert (preferences.status_code, device.status_code) == (404, 404)
    superuser.refresh_from_db()
    assert superuser.preferences == {"email": True, "push": True}
    assert not Device.objects.exists()


def test_an_api_key_still_reads_a_staff_account(service_client, superuser):
    response = service_client.get(detail_url(superuser.id))

    assert response.status_code == 200
    assert response.json()["data"]["is_staff"] is True


def test_an_api_key_still_manages_ordinary_recipients(service_client, user):
    response = service_client.patch(
        detail_url(user.id), {"email": "moved@example.com", "password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.email, user.check_password(NEW_PASSWORD)) == ("moved@example.com", True)


# --- staff: ordinary recipients and themselves; superusers: everyone ----------------------------------------


@pytest.mark.parametrize("target_fixture", ["superuser", "other_staff"])
def test_staff_cannot_change_or_delete_another_staff_account(request, staff_client, target_fixture):
    target = request.getfixturevalue(target_fixture)

    patch = staff_client.patch(detail_url(target.id), {"password": NEW_PASSWORD}, format="json")
    delete = staff_client.delete(detail_url(target.id))

    assert (patch.status_code, delete.status_code) == (404, 404)
    assert _password_unchanged(target)


def test_staff_manage_an_ordinary_recipient(staff_client, user):
    response = staff_client.patch(detail_url(user.id), {"password": NEW_PASSWORD}, format="json")

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_a_superuser_changes_a_staff_account(superuser, other_staff):
    response = bearer_client(superuser).patch(
        detail_url(other_staff.id), {"password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 200
    other_staff.refresh_from_db()
    assert other_staff.check_password(NEW_PASSWORD)


@pytest.mark.parametrize("client_fixture", ["service_client", "staff_client"])
def test_nobody_grants_staff_through_the_api(request, client_fixture, user):
    response = request.getfixturevalue(client_fixture).patch(
        detail_url(user.id), {"name": "Promoted?", "is_staff": True, "is_superuser": True}, format="json"
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.name, user.is_staff, user.is_superuser) == ("Promoted?", False, False)


# --- a user's own credentials need the current password -----------------------------------------------------


@pytest.mark.parametrize("change", [{"password": NEW_PASSWORD}, {"email": "taken-over@example.com"}])
def test_changing_own_credentials_without_the_current_password_is_400(user_client, user, change):
    before = User.objects.filter(pk=user.pk).values().get()

    response = user_client.patch(detail_url(user.id), change, format="json")

    assert response.status_code == 400
    assert list(response.json()["data"]) == ["current_password"]
    assert User.objects.filter(pk=user.pk).values().get() == before


def test_changing_own_credentials_with_a_wrong_current_password_is_400(user_client, user):
    before = User.objects.filter(pk=user.pk).values().get()

    response = user_client.patch(
        detail_url(user.id), {"email": "x@example.com", "current_password": "not-it-at-all"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["data"] == {"current_password": ["The current password is wrong."]}
    assert User.objects.filter(pk=user.pk).values().get() == before


def test_changing_own_credentials_with_the_current_password_works(user_client, user):
    response = user_client.patch(
        detail_url(user.id),
        {"email": "new@example.com", "password": NEW_PASSWORD, "current_password": DEFAULT_PASSWORD},
        format="json",
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.email, user.check_password(NEW_PASSWORD)) == ("new@example.com", True)


def test_changing_own_name_needs_no_password(user_client, user):
    response = user_client.patch(detail_url(user.id), {"name": "Just A Name"}, format="json")

    assert response.status_code == 200


def test_guessing_the_current_password_is_rate_limited(user_client, user, settings):
    settings.LOGIN_RATE_LIMIT_PER_ACCOUNT = 3
    body = {"password": NEW_PASSWORD, "current_password": "guess"}
    codes = [user_client.patch(detail_url(user.id), body, format="json").status_code for _ in range(4)]

    right = user_client.patch(
        detail_url(user.id), {**body, "current_password": DEFAULT_PASSWORD}, format="json"
    )

    assert codes == [400, 400, 400, 429]
    assert right.status_code == 429
    assert _password_unchanged(user)


def test_a_password_change_refuses_earlier_access_tokens_at_once(user):
    old_session = bearer_client(user)
    assert old_session.get(detail_url(user.id)).status_code == 200

    changed = old_session.patch(
        detail_url(user.id), {"password": NEW_PASSWORD, "current_password": DEFAULT_PASSWORD}, format="json"
    )
    after = old_session.get(detail_url(user.id))
    user.refresh_from_db()
    fresh = bearer_client(user).get(detail_url(user.id))

    assert changed.status_code == 200
    assert after.status_code == 401
    assert fresh.status_code == 200


def test_a_password_change_by_a_service_also_ends_the_users_sessions(service_client, user):
    old_session = bearer_client(user)
    refresh = str(RefreshToken.for_user(user))

    service_client.patch(detail_url(user.id), {"password": NEW_PASSWORD}, format="json")

    assert old_session.get(detail_url(user.id)).status_code == 401
    refreshed = APIClient().post("/api/v1/auth/refresh", {"refresh_token": refresh}, format="json")
    assert refreshed.status_code == 401


@pytest.mark.parametrize("user_id", ["not-a-uuid", 12, ["x"]])
def test_a_signed_token_whose_user_id_is_not_an_id_is_401(user_id):
    token = jwt.encode(
        {"token_type": "access", "exp": 4_000_000_000, "jti": uuid.uuid4().hex, "user_id": user_id},
        settings.SIMPLE_JWT["SIGNING_KEY"],
        algorithm="HS256",
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = client.get(detail_url(uuid.uuid4()))

    assert response.status_code == 401
    assert response.json()["success"] is False
