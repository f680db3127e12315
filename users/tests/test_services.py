import logging

import pytest
from django.contrib.auth.hashers import identify_hasher
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from notifier.api.errors import ApplicationError
from users.models import Device, User
from users.services import (
    device_delete,
    device_register,
    devices_deactivate,
    preferences_validate,
    user_create,
    user_delete,
    user_preferences_update,
    user_update,
)
from users.tests.factories import DEFAULT_PASSWORD, DeviceFactory, UserFactory, fcm_token

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "a-long-and-unusual-passphrase"


# --- user_create --------------------------------------------------------------------------------------------


def test_user_create_normalises_the_email_and_hashes_the_password_with_argon2():
    user = user_create(name="Ada", email="  Ada@Example.COM ", password=STRONG_PASSWORD)

    user.refresh_from_db()
    assert user.email == "ada@example.com"
    assert user.name == "Ada"
    assert user.preferences == {"email": True, "push": True}
    assert user.is_staff is False
    assert identify_hasher(user.password).algorithm == "argon2"
    assert user.check_password(STRONG_PASSWORD)
    assert user.devices.count() == 0


def test_user_create_merges_partial_preferences_with_the_defaults():
    user = user_create(
        name="Ada", email="ada@example.com", password=STRONG_PASSWORD, preferences={"push": False}
    )

    assert User.objects.get(pk=user.pk).preferences == {"email": True, "push": False}


def test_user_create_with_a_push_token_registers_a_device():
    token = fcm_token(1)

    user = user_create(name="Ada", email="ada@example.com", password=STRONG_PASSWORD, push_token=token)

    device = Device.objects.get(token=token)
    assert device.user_id == user.id
    assert device.platform == "android"
    assert device.active is True
    assert device.last_seen is not None


def test_user_create_with_a_push_token_and_platform():
    user = user_create(
        name="Ada", email="ada@example.com", password=STRONG_PASSWORD, push_token=fcm_token(1), platform="ios"
    )

    assert list(user.devices.values_list("platform", flat=True)) == ["ios"]


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@example.com", " Ada@Example.Com"])
def test_user_create_refuses_an_email_in_use_whatever_its_case(email):
    UserFactory(email="ada@example.com")

    with pytest.raises(ApplicationError) as excinfo:
        user_create(name="Other", email=email, password=STRONG_PASSWORD, push_token=fcm_token(1))

    assert (excinfo.value.status, excinfo.value.code) == (409, "conflict")
    assert User.objects.count() == 1
    assert Device.objects.count() == 0


@pytest.mark.parametrize("password", ["short", "password123", "12345678901234"])
def test_user_create_refuses_weak_passwords_and_writes_nothing(password):
    with pytest.raises(ApplicationError) as excinfo:
        user_create(name="Ada", email="ada@example.com", password=password, push_token=fcm_token(1))

    assert (excinfo.value.status, excinfo.value.code) == (400, "validation_error")
    assert list(excinfo.value.data) == ["password"]
    assert User.objects.count() == 0
    assert Device.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 151}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"preferences": {"sms": True}}, "sms"),
        ({"preferences": {"email": "yes"}}, "email"),
        ({"push_token": "has spaces"}, "token"),
        ({"push_token": "x" * 1025}, "token"),
        ({"push_token": fcm_token(1), "platform": "windows"}, "platform"),
    ],
)
def test_user_create_refuses_invalid_fields_and_writes_nothing(fields, error_field):
    arguments = {"name": "Ada", "email": "ada@example.com", "password": STRONG_PASSWORD, **fields}

    with pytest.raises(ApplicationError) as excinfo:
        user_create(**arguments)

    assert excinfo.value.status == 400
    assert error_field in excinfo.value.data
    assert User.objects.count() == 0
    assert Device.objects.count() == 0


def test_user_create_with_a_token_of_another_user_moves_the_device():
    device = DeviceFactory(active=False)

    user = user_create(name="Ada", email="ada@example.com", password=STRONG_PASSWORD, push_token=device.token)

    device.refresh_from_db()
    assert device.user_id == user.id
    assert device.active is True


# --- user_update --------------------------------------------------------------------------------------------


def test_user_update_changes_only_what_is_given():
    user = UserFactory(name="Old", email="old@example.com", preferences={"email": True, "push": True})

    user_update(user=user, name="New", preferences={"email": False})

    user.refresh_from_db()
    assert (user.name, user.email, user.preferences) == (
        "New",
        "old@example.com",
        {"email": False, "push": True},
    )
    assert user.check_password(DEFAULT_PASSWORD)


def test_user_update_normalises_a_new_email():
    user = UserFactory()

    user_update(user=user, email=" New@Example.com")

    assert User.objects.get(pk=user.pk).email == "new@example.com"


def test_user_update_to_another_users_email_is_a_conflict_and_changes_nothing():
    UserFactory(email="taken@example.com")
    user = UserFactory(name="Old", email="mine@example.com")

    with pytest.raises(ApplicationError) as excinfo:
        user_update(user=user, name="New", email="TAKEN@example.com")

    assert (excinfo.value.status, excinfo.value.code) == (409, "conflict")
    user.refresh_from_db()
    assert (user.name, user.email) == ("Old", "mine@example.com")


def test_user_update_to_the_same_email_in_another_case_is_allowed():
    user = UserFactory(email="mine@example.com")

    user_update(user=user, email="MINE@example.com")

    assert User.objects.get(pk=user.pk).email == "mine@example.com"


def test_user_update_with_a_weak_password_changes_nothing():
    user = UserFactory(name="Old")

    with pytest.raises(ApplicationError):
        user_update(user=user, name="New", password="123")

    user.refresh_from_db()
    assert user.name == "Old"
    assert user.check_password(DEFAULT_PASSWORD)


def test_user_update_password_revokes_the_users_refresh_tokens():
    user = UserFactory()
    other = UserFactory()
    sessions = [RefreshToken.for_user(user), RefreshToken.for_user(user)]
    other_session = RefreshToken.for_user(other)

    user_update(user=user, password=STRONG_PASSWORD)

    assert User.objects.get(pk=user.pk).check_password(STRONG_PASSWORD)
    blacklisted = set(BlacklistedToken.objects.values_list("token__jti", flat=True))
    assert blacklisted == {session["jti"] for session in sessions}
    assert other_session["jti"] not in blacklisted


def test_user_preferences_update_keeps_the_other_channel():
    user = UserFactory(preferences={"email": False, "push": True})

    user_preferences_update(user=user, preferences={"push": False})

    assert User.objects.get(pk=user.pk).preferences == {"email": False, "push": False}


@pytest.mark.parametrize(
    "preferences", [{}, {"email": 1}, {"email": None}, {"push": "false"}, {"sms": True}, ["email"], None]
)
def test_user_preferences_update_refuses_anything_but_booleans_of_known_channels(preferences):
    user = UserFactory(preferences={"email": True, "push": True})

    with pytest.raises(ApplicationError) as excinfo:
        user_preferences_update(user=user, preferences=preferences)

    assert excinfo.value.status == 400
    assert User.objects.get(pk=user.pk).preferences == {"email": True, "push": True}


def test_preferences_validate_requires_both_channels_unless_partial():
    assert preferences_validate({"email": True, "push": False}, partial=False) == {
        "email": True,
        "push": False,
    }
    assert preferences_validate({"push": False}, partial=True) == {"push": False}
    with pytest.raises(ApplicationError) as excinfo:
        preferences_validate({"push": False}, partial=False)
    assert excinfo.value.data == {"email": ["This field is required."]}


# --- user_delete --------------------------------------------------------------------------------------------


def test_user_delete_removes_the_user_and_their_devices_only():
    user = UserFactory()
    DeviceFactory(user=user)
    other_device = DeviceFactory()

    user_delete(user=user)

    assert not User.objects.filter(pk=user.pk).exists()
    assert list(Device.objects.all()) == [other_device]


# --- devices ------------------------------------------------------------------------------------------------


def test_device_register_creates_a_device():
    user = UserFactory()
    token = fcm_token(7)

    device, created = device_register(user=user, token=token, platform="web")

    assert created is True
    assert (device.user_id, device.token, device.platform, device.active) == (user.id, token, "web", True)
    assert device.last_seen is not None


def test_device_register_of_a_known_token_reactivates_and_updates_it():
    user = UserFactory()
    existing = DeviceFactory(user=user, active=False, platform="android", last_seen=None)

    device, created = device_register(user=user, token=existing.token, platform="ios")

    assert created is False
    assert device.pk == existing.pk
    existing.refresh_from_db()
    assert (existing.active, existing.platform) == (True, "ios")
    assert existing.last_seen is not None
    assert Device.objects.count() == 1


def test_device_register_moves_a_token_from_another_user(caplog):
    previous_owner = UserFactory()
    new_owner = UserFactory()
    existing = DeviceFactory(user=previous_owner, active=False)

    with caplog.at_level(logging.INFO, logger="users.services"):
        device, created = device_register(user=new_owner, token=existing.token, platform="android")

    assert created is False
    assert device.pk == existing.pk
    assert Device.objects.get(pk=existing.pk).user_id == new_owner.id
    assert Device.objects.get(pk=existing.pk).active is True
    assert previous_owner.devices.count() == 0
    assert "device moved to another user" in caplog.text
    assert existing.token not in caplog.text  # tokens stay out of the logs


@pytest.mark.parametrize(
    ("token", "platform", "field"),
    [
        ("", "android", "token"),
        ("bad token", "android", "token"),
        ("bad/token", "android", "token"),
        ("nul\x00token", "android", "token"),
        ("x" * 1025, "android", "token"),
        ("good-token", "blackberry", "platform"),
    ],
)
def test_device_register_refuses_bad_input_and_writes_nothing(token, platform, field):
    user = UserFactory()

    with pytest.raises(ApplicationError) as excinfo:
        device_register(user=user, token=token, platform=platform)

    assert excinfo.value.status == 400
    assert field in excinfo.value.data
    assert Device.objects.count() == 0


def test_device_delete_removes_the_users_device():
    device = DeviceFactory()

    device_delete(user=device.user, token=device.token)

    assert Device.objects.count() == 0


def test_device_delete_of_another_users_token_is_not_found_and_deletes_nothing():
    device = DeviceFactory()
    stranger = UserFactory()

    with pytest.raises(ApplicationError) as excinfo:
        device_delete(user=stranger, token=device.token)

    assert (excinfo.value.status, excinfo.value.code) == (404, "not_found")
    assert Device.objects.filter(pk=device.pk).exists()


def test_devices_deactivate_deactivates_each_once():
    gone, also_gone, kept = DeviceFactory(), DeviceFactory(), DeviceFactory()
    tokens = [gone.token, also_gone.token]

    first = devices_deactivate(tokens=tokens, reason="fcm: UNREGISTERED")
    second = devices_deactivate(tokens=tokens, reason="fcm: UNREGISTERED")

    assert (first, second) == (2, 0)
    assert set(Device.objects.filter(active=True).values_list("pk", flat=True)) == {kept.pk}


def test_devices_deactivate_of_an_unknown_token_changes_nothing():
    DeviceFactory()

    assert devices_deactivate(tokens=["unknown"], reason="fcm: NOT_FOUND") == 0
    assert Device.objects.filter(active=True).count() == 1
