import pytest
from rest_framework_api_key.models import APIKey

from users.models import Device, User
from users.selectors import user_profile_get
from users.tests.factories import DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "a-long-and-unusual-passphrase"


def test_user_changelist_renders_and_searches(superuser_client):
    UserFactory(email="findme@example.com", name="Findable Person")
    UserFactory(email="hidden@example.com", name="Someone Else")

    response = superuser_client.get("/admin/users/user/", {"q": "findme"})

    assert response.status_code == 200
    content = response.content.decode()
    assert "findme@example.com" in content
    assert "hidden@example.com" not in content


def test_user_change_page_renders_with_devices_inline(superuser_client):
    device = DeviceFactory()

    response = superuser_client.get(f"/admin/users/user/{device.user_id}/change/")

    assert response.status_code == 200
    assert device.token in response.content.decode()


def test_user_add_page_renders(superuser_client):
    assert superuser_client.get("/admin/users/user/add/").status_code == 200


def test_user_add_form_creates_a_user_with_a_hashed_password(superuser_client):
    response = superuser_client.post(
        "/admin/users/user/add/",
        {
            "email": " New@Example.com ",
            "name": "New Person",
            "preferences": '{"email": true, "push": false}',
            "password1": STRONG_PASSWORD,
            "password2": STRONG_PASSWORD,
            "devices-TOTAL_FORMS": "0",
            "devices-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert user.check_password(STRONG_PASSWORD)
    assert user.preferences == {"email": True, "push": False}


def test_user_add_form_refuses_an_email_in_use_in_another_case(superuser_client):
    UserFactory(email="taken@example.com")

    response = superuser_client.post(
        "/admin/users/user/add/",
        {
            "email": "TAKEN@example.com",
            "name": "Dup",
            "preferences": '{"email": true, "push": true}',
            "password1": STRONG_PASSWORD,
            "password2": STRONG_PASSWORD,
        },
    )

    assert response.status_code == 200
    assert "A user with this email already exists." in response.content.decode()
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


def change_form_data(user: User, **overrides) -> dict[str, str]:
    data = {
        "email": user.email,
        "name": user.name,
        "preferences": '{"email": true, "push": true}',
        "is_active": "on",
        "devices-TOTAL_FORMS": "0",
        "devices-INITIAL_FORMS": "0",
        "devices-MIN_NUM_FORMS": "0",
        "devices-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_editing_preferences_in_the_admin_invalidates_the_cached_profile(superuser_client):
    user = UserFactory(preferences={"email": True, "push": True})
    assert user_profile_get(user_id=user.id).preferences == {"email": True, "push": True}

    response = superuser_client.post(
        f"/admin/users/user/{user.id}/change/",
        change_form_data(user, preferences='{"email": false, "push": true}'),
    )

    assert response.status_code == 302
    assert user_profile_get(user_id=user.id).preferences == {"email": False, "push": True}


def test_deactivating_in_the_admin_invalidates_the_cached_profile(superuser_client):
    user = UserFactory()
    assert user_profile_get(user_id=user.id).is_active is True

    response = superuser_client.post(
        f"/admin/users/user/{user.id}/change/", change_form_data(user, is_active=None)
    )

    assert response.status_code == 302
    assert user_profile_get(user_id=user.id).is_active is False


@pytest.mark.parametrize(
    "preferences",
    [
        '{"email": true}',
        '{"email": "yes", "push": true}',
        '["email"]',
        '{"email": true, "push": true, "x": 1}',
    ],
)
def test_the_admin_refuses_malformed_preferences(superuser_client, preferences):
    user = UserFactory(preferences={"email": True, "push": True})

    response = superuser_client.post(
        f"/admin/users/user/{user.id}/change/", change_form_data(user, preferences=preferences)
    )

    assert response.status_code == 200
    assert User.objects.get(pk=user.pk).preferences == {"email": True, "push": True}


def test_the_admin_refuses_a_malformed_device_token(superuser_client):
    user = UserFactory()

    response = superuser_client.post(
        f"/admin/users/user/{user.id}/change/",
        change_form_data(
            user,
            **{
                "devices-TOTAL_FORMS": "1",
                "devices-0-token": "not a token",
                "devices-0-platform": "android",
                "devices-0-active": "on",
            },
        ),
    )

    assert response.status_code == 200
    assert Device.objects.count() == 0


def test_api_key_admin_is_registered(superuser_client):
    APIKey.objects.create_key(name="listed-key")

    response = superuser_client.get("/admin/rest_framework_api_key/apikey/")

    assert response.status_code == 200
    assert "listed-key" in response.content.decode()


def test_admin_requires_staff(client):
    client.force_login(UserFactory())

    response = client.get("/admin/users/user/")

    assert response.status_code == 302
