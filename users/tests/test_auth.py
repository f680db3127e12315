"""POST /api/v1/auth/login and /api/v1/auth/refresh: tokens, rotation, rate limits."""

import threading

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from notifier.api.errors import ApplicationError
from users.models import User
from users.services import auth_refresh
from users.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN_URL = "/api/v1/auth/login"
REFRESH_URL = "/api/v1/auth/refresh"
ACCESS_SECONDS = int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())

REDIS_DOWN = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


def login(client, email, password=DEFAULT_PASSWORD, address="10.0.0.1"):
    return client.post(LOGIN_URL, {"email": email, "password": password}, format="json", REMOTE_ADDR=address)


def refresh(client, token):
    return client.post(REFRESH_URL, {"refresh_token": token}, format="json")


def bearer(access_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client


# --- login --------------------------------------------------------------------------------------------------


def test_login_returns_a_token_pair(anonymous_client, user):
    response = login(anonymous_client, user.email)

    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert set(body["data"]) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["data"]["token_type"] == "Bearer"
    assert body["data"]["expires_in"] == ACCESS_SECONDS
    assert AccessToken(body["data"]["access_token"])["user_id"] == str(user.id)
    assert RefreshToken(body["data"]["refresh_token"])["user_id"] == str(user.id)


def test_the_access_token_reaches_the_users_own_record(anonymous_client, user):
    access = login(anonymous_client, user.email).json()["data"]["access_token"]

    response = bearer(access).get(f"/api/v1/users/{user.id}")

    assert response.status_code == 200
    assert response.json()["data"]["id"] == str(user.id)


def test_login_email_is_case_and_space_insensitive(anonymous_client):
    UserFactory(email="ada@example.com")

    response = login(anonymous_client, "  ADA@Example.com ")

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("email", "password"),
    [("user-who@example.com", "wrong-password"), ("nobody@example.com", DEFAULT_PASSWORD)],
)
def test_login_with_wrong_credentials_is_401(anonymous_client, email, password):
    UserFactory(email="user-who@example.com")

    response = login(anonymous_client, email, password)

    body = response.json()
    assert response.status_code == 401
    assert body["success"] is False
    assert body["error"] == "invalid_credentials"
    assert body["data"] is None


def test_login_of_an_inactive_user_is_401(anonymous_client):
    user = UserFactory(is_active=False)

    response = login(anonymous_client, user.email)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_credentials"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "a@example.com"},
        {"password": "x"},
        {"email": 1, "password": "x"},
        {"email": "a@example.com", "password": ["x"]},
        {"email": "a" * 255, "password": "x"},
        {"email": "a@example.com", "password": "x" * 257},
        {"email": "a\x00@example.com", "password": "x"},
    ],
)
def test_login_with_malformed_input_is_400(anonymous_client, body):
    response = anonymous_client.post(LOGIN_URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_login_ignores_a_bad_api_key_header(anonymous_client, user):
    anonymous_client.credentials(HTTP_X_API_KEY="garbage.key")

    assert login(anonymous_client, user.email).status_code == 200


# --- rate limits --------------------------------------------------------------------------------------------


@override_settings(LOGIN_RATE_LIMIT_PER_ACCOUNT=3, LOGIN_RATE_LIMIT_PER_ADDRESS=100)
def test_login_is_rate_limited_per_account_across_addresses(anonymous_client, user, other_user):
    for attempt in range(3):
        assert login(anonymous_client, user.email, "wrong", address=f"10.0.1.{attempt}").status_code == 401

    limited = login(anonymous_client, user.email, address="10.0.2.1")  # even the right password

    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert limited.json()["success"] is False
    assert 1 <= int(limited["Retry-After"]) <= settings.LOGIN_RATE_LIMIT_WINDOW_SECONDS
    assert login(anonymous_client, other_user.email, address="10.0.2.1").status_code == 200


@override_settings(LOGIN_RATE_LIMIT_PER_ACCOUNT=100, LOGIN_RATE_LIMIT_PER_ADDRESS=3)
def test_login_is_rate_limited_per_address_across_accounts(anonymous_client, user):
    for attempt in range(3):
        assert (
            login(anonymous_client, f"guess{attempt}@example.com", "x", address="10.9.9.9").status_code == 401
        )

    limited = login(anonymous_client, user.email, address="10.9.9.9")

    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    assert login(anonymous_client, user.email, address="10.9.9.10").status_code == 200


@override_settings(LOGIN_RATE_LIMIT_PER_ACCOUNT=3, LOGIN_RATE_LIMIT_PER_ADDRESS=100)
def test_a_successful_login_resets_the_account_counter(anonymous_client, user):
    for _ in range(2):
        assert login(anonymous_client, user.email, "wrong").status_code == 401
    assert login(anonymous_client, user.email).status_code == 200

    for _ in range(2):
        assert login(anonymous_client, user.email, "wrong").status_code == 401

    assert login(anonymous_client, user.email).status_code == 200


@override_settings(LOGIN_RATE_LIMIT_PER_ACCOUNT=2, LOGIN_RATE_LIMIT_PER_ADDRESS=100)
def test_the_account_limit_ignores_the_case_of_the_email(anonymous_client, user):
    login(anonymous_client, user.email.upper(), "wrong")
    login(anonymous_client, f" {user.email} ", "wrong")

    assert login(anonymous_client, user.email).status_code == 429


def test_login_works_when_redis_is_down(anonymous_client, user):
    with override_settings(CACHES=REDIS_DOWN):
        response = login(anonymous_client, user.email)

    assert response.status_code == 200


# --- refresh ------------------------------------------------------------------------------------------------


def test_refresh_returns_a_new_pair(anonymous_client, user):
    pair = login(anonymous_client, user.email).json()["data"]

    response = refresh(anonymous_client, pair["refresh_token"])

    data = response.json()["data"]
    assert response.status_code == 200
    assert set(data) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (data["token_type"], data["expires_in"]) == ("Bearer", ACCESS_SECONDS)
    assert data["refresh_token"] != pair["refresh_token"]
    assert data["access_token"] != pair["access_token"]
    assert bearer(data["access_token"]).get(f"/api/v1/users/{user.id}").status_code == 200


def test_a_refresh_token_works_once(anonymous_client, user):
    first = login(anonymous_client, user.email).json()["data"]["refresh_token"]
    second = refresh(anonymous_client, first).json()["data"]["refresh_token"]

    reused = refresh(anonymous_client, first)

    assert reused.status_code == 401
    assert reused.json()["error"] == "invalid_token"
    assert refresh(anonymous_client, second).status_code == 200


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 2000])
def test_refresh_with_a_garbage_token_is_401(anonymous_client, token):
    response = refresh(anonymous_client, token)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_refresh_with_an_access_token_is_401(anonymous_client, user):
    access = login(anonymous_client, user.email).json()["data"]["access_token"]

    assert refresh(anonymous_client, access).status_code == 401


def test_refresh_with_a_token_signed_by_another_key_is_401(anonymous_client, user):
    unused = RefreshToken.for_user(user)  # recorded as outstanding, never presented
    forged = jwt.encode(unused.payload, "another-key-entirely-another-key-entirely", algorithm="HS256")

    assert refresh(anonymous_client, forged).status_code == 401


def test_refresh_for_a_deactivated_user_is_401(anonymous_client, user):
    token = login(anonymous_client, user.email).json()["data"]["refresh_token"]
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert refresh(anonymous_client, token).status_code == 401


def test_refresh_for_a_deleted_user_is_401(anonymous_client, service_client, user):
    token = login(anonymous_client, user.email).json()["data"]["refresh_token"]
    service_client.delete(f"/api/v1/users/{user.id}")

    assert refresh(anonymous_client, token).status_code == 401


def test_a_password_change_ends_other_sessions(anonymous_client, user):
    pair = login(anonymous_client, user.email).json()["data"]
    bearer(pair["access_token"]).patch(
        f"/api/v1/users/{user.id}",
        {"password": "a-brand-new-passphrase", "current_password": DEFAULT_PASSWORD},
        format="json",
    )

    assert refresh(anonymous_client, pair["refresh_token"]).status_code == 401
    assert login(anonymous_client, user.email, "a-brand-new-passphrase").status_code == 200


@pytest.mark.parametrize(
    "body", [{}, {"refresh_token": 5}, {"refresh_token": None}, {"refresh_token": "x" * 4097}]
)
def test_refresh_with_malformed_input_is_400(anonymous_client, body):
    response = anonymous_client.post(REFRESH_URL, body, format="json")

    assert response.status_code == 400
    assert "refresh_token" in response.json()["data"]


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_refreshes_with_one_token_yield_one_pair():
    user = UserFactory()
    token = str(RefreshToken.for_user(user))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def use_token() -> None:
        barrier.wait()
        try:
            auth_refresh(refresh_token=token)
            outcomes.append("ok")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=use_token) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["invalid_token", "ok"]
