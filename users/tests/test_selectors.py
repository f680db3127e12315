import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from users.models import User
from users.selectors import (
    UserProfile,
    device_list,
    devices_active_for_user,
    user_get,
    user_list,
    user_profile_get,
    user_profile_invalidate,
)
from users.services import user_preferences_update, user_update
from users.tests.factories import DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db

# A port nothing listens on: every cache call fails at once with a connection error.
REDIS_DOWN = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


def test_user_profile_get_returns_the_profile():
    user = UserFactory(name="Ada", email="ada@example.com", preferences={"email": False, "push": True})

    profile = user_profile_get(user_id=user.id)

    assert profile == UserProfile(
        id=user.id,
        name="Ada",
        email="ada@example.com",
        preferences={"email": False, "push": True},
        is_active=True,
    )


def test_user_profile_get_accepts_the_id_as_a_string():
    user = UserFactory()

    assert user_profile_get(user_id=str(user.id)).id == user.id


def test_user_profile_get_is_none_for_an_unknown_or_malformed_id():
    assert user_profile_get(user_id=uuid.uuid4()) is None
    assert user_profile_get(user_id="not-a-uuid") is None


def test_user_profile_get_serves_from_the_cache_until_invalidated():
    user = UserFactory(name="Before")
    user_profile_get(user_id=user.id)
    User.objects.filter(pk=user.pk).update(name="After")  # behind the services' back: the cache still holds

    cached = user_profile_get(user_id=user.id)
    user_profile_invalidate(user_id=user.id)
    fresh = user_profile_get(user_id=user.id)

    assert cached.name == "Before"
    assert fresh.name == "After"


def test_user_profile_get_does_not_cache_a_miss():
    user_id = uuid.uuid4()
    assert user_profile_get(user_id=user_id) is None

    UserFactory(id=user_id)

    assert user_profile_get(user_id=user_id).id == user_id


def test_user_profile_get_fills_in_missing_preferences_with_defaults():
    user = UserFactory(preferences={"push": False})

    assert user_profile_get(user_id=user.id).preferences == {"email": True, "push": False}


def test_preferences_update_is_seen_by_the_next_profile_read():
    user = UserFactory(preferences={"email": True, "push": True})
    assert user_profile_get(user_id=user.id).preferences == {"email": True, "push": True}

    user_preferences_update(user=user, preferences={"push": False})

    assert user_profile_get(user_id=user.id).preferences == {"email": True, "push": False}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": "New Name"}, {"name": "New Name"}),
        ({"email": "New@Example.com"}, {"email": "new@example.com"}),
    ],
)
def test_user_update_is_seen_by_the_next_profile_read(change, expected):
    user = UserFactory(name="Old Name", email="old@example.com")
    user_profile_get(user_id=user.id)

    user_update(user=user, **change)

    profile = user_profile_get(user_id=user.id)
    assert {key: getattr(profile, key) for key in expected} == expected


def test_user_profile_get_reads_the_database_when_redis_is_down(caplog):
    user = UserFactory(name="Grace")

    with override_settings(CACHES=REDIS_DOWN):
        profile = user_profile_get(user_id=user.id)

    assert profile.name == "Grace"
    assert "user profile cache unavailable" in caplog.text


def test_changes_still_work_and_are_seen_when_redis_is_down():
    user = UserFactory(preferences={"email": True, "push": True})

    with override_settings(CACHES=REDIS_DOWN):
        user_preferences_update(user=user, preferences={"email": False})
        profile = user_profile_get(user_id=user.id)

    assert profile.preferences == {"email": False, "push": True}
    assert User.objects.get(pk=user.pk).preferences == {"email": False, "push": True}


def test_user_profile_invalidate_removes_the_cache_entry():
    user = UserFactory()
    user_profile_get(user_id=user.id)
    assert cache.get(f"user-profile:{user.id}") is not None

    user_profile_invalidate(user_id=user.id)

    assert cache.get(f"user-profile:{user.id}") is None


def test_devices_active_for_user_lists_active_devices_most_recently_seen_first():
    user = UserFactory()
    now = timezone.now()
    older = DeviceFactory(user=user, last_seen=now - timedelta(days=2))
    newer = DeviceFactory(user=user, last_seen=now - timedelta(hours=1))
    never_seen = DeviceFactory(user=user, last_seen=None)
    DeviceFactory(user=user, active=False, last_seen=now)
    DeviceFactory(last_seen=now)  # another user's

    devices = devices_active_for_user(user_id=user.id)

    assert devices == [newer, older, never_seen]


def test_devices_active_for_user_is_empty_for_a_malformed_id():
    assert devices_active_for_user(user_id="nope") == []


def test_user_list_filters_by_email_case_insensitively():
    wanted = UserFactory(email="wanted@example.com")
    UserFactory(email="other@example.com")

    assert list(user_list(email="  WANTED@Example.COM ")) == [wanted]
    assert list(user_list(email="missing@example.com")) == []


def test_user_list_without_a_filter_is_newest_first():
    first = UserFactory()
    second = UserFactory()

    assert list(user_list()) == [second, first]


def test_user_get():
    user = UserFactory()

    assert user_get(user_id=user.id) == user
    assert user_get(user_id=str(user.id)) == user
    assert user_get(user_id=uuid.uuid4()) is None
    assert user_get(user_id="garbage") is None


def test_device_list_holds_only_that_users_devices_active_or_not():
    user = UserFactory()
    active = DeviceFactory(user=user)
    inactive = DeviceFactory(user=user, active=False)
    DeviceFactory()

    assert list(device_list(user=user)) == [inactive, active]
