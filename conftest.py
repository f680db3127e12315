"""Fixtures shared by every app's tests: callers of each kind, and a clean Redis test database."""

import pytest
from django_redis import get_redis_connection
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from notifications.providers.breakers import breaker_cached_states_forget
from users.tests.factories import UserFactory, bearer_client


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty Redis test database (REDIS_URL points the suite at its own)."""
    get_redis_connection("default").flushdb()
    breaker_cached_states_forget()
    yield


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def api_key(db) -> str:
    _, key = APIKey.objects.create_key(name="tests")
    return key


@pytest.fixture
def service_client(api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key)
    return client


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def user_client(user) -> APIClient:
    return bearer_client(user)


@pytest.fixture
def other_user_client(other_user) -> APIClient:
    return bearer_client(other_user)


@pytest.fixture
def staff_client(staff_user) -> APIClient:
    return bearer_client(staff_user)


@pytest.fixture
def superuser_client(db):
    """A logged-in admin session."""
    from django.test import Client

    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client
