"""/admin/login/ is limited like the API's login: per account and per address, the same counters."""

import pytest
from django.test import Client

from users.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN_URL = "/admin/login/"
LOCKOUT_MESSAGE = "Too many login attempts; try again later."


@pytest.fixture
def admin_user(db):
    return UserFactory(is_staff=True, is_superuser=True)


def _login(client: Client, email: str, password: str, address: str = "203.0.113.7"):
    return client.post(
        LOGIN_URL, {"username": email, "password": password, "next": "/admin/"}, REMOTE_ADDR=address
    )


def test_wrong_passwords_lock_the_account_even_for_the_right_one(settings, admin_user):
    settings.LOGIN_RATE_LIMIT_PER_ACCOUNT = 3
    client = Client()

    wrong = [_login(client, admin_user.email, f"guess-{n}") for n in range(4)]
    right = _login(client, admin_user.email, DEFAULT_PASSWORD)

    assert [r.status_code for r in wrong] == [200, 200, 200, 429]
    assert LOCKOUT_MESSAGE in wrong[-1].content.decode()
    assert int(wrong[-1]["Retry-After"]) >= 1
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_one_address_is_limited_across_accounts(settings, admin_user):
    settings.LOGIN_RATE_LIMIT_PER_ADDRESS = 4
    client = Client()

    codes = [_login(client, f"nobody{n}@example.com", "guess").status_code for n in range(5)]
    elsewhere = _login(client, admin_user.email, DEFAULT_PASSWORD, address="198.51.100.9")

    assert codes == [200, 200, 200, 200, 429]
    assert elsewhere.status_code == 302


def test_the_admin_and_the_api_share_the_account_counter(settings, admin_user):
    settings.LOGIN_RATE_LIMIT_PER_ACCOUNT = 3
    api = Client()
    for _ in range(3):
        api.post(
            "/api/v1/auth/login",
            {"email": admin_user.email, "password": "guess"},
            content_type="application/json",
            REMOTE_ADDR="192.0.2.1",
        )

    response = _login(Client(), admin_user.email, DEFAULT_PASSWORD)

    assert response.status_code == 429


def test_a_right_password_resets_the_accounts_count(settings, admin_user):
    settings.LOGIN_RATE_LIMIT_PER_ACCOUNT = 3
    for _ in range(2):
        _login(Client(), admin_user.email, "guess")
    assert _login(Client(), admin_user.email, DEFAULT_PASSWORD).status_code == 302

    again = [_login(Client(), admin_user.email, "guess").status_code for _ in range(3)]

    assert again == [200, 200, 200]
