"""POST/GET /api/v1/users/ and GET/PATCH/DELETE /api/v1/users/{id}."""

import uuid

import pytest
from django.contrib.auth.hashers import identify_hasher

from users.models import Device, User
from users.selectors import user_profile_get
from users.tests.factories import DEFAULT_PASSWORD, DeviceFactory, UserFactory, fcm_token

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/users/"
STRONG_PASSWORD = "a-long-and-unusual-passphrase"


def detail_url(user_id) -> str:
    return f"/api/v1/users/{user_id}"


def new_user_body(**overrides):
    return {"name": "Ada Lovelace", "email": "Ada@Example.com", "password": STRONG_PASSWORD, **overrides}


# --- POST /api/v1/users/ ------------------------------------------------------------------------------------


def test_create_user_answers_201_with_the_user_without_the_password(service_client):
    response = service_client.post(LIST_URL, new_user_body(language="pt-br"), format="json")

    body = response.json()
    user = User.objects.get()
    assert response.status_code == 201
    assert body["success"] is True
    assert body["error"] is None
    assert body["message"] == "Created"
    assert body["meta"] is None
    assert body["data"] == {
        "id": str(user.id),
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "preferences": {"email": True, "push": True},
        "language": "pt-BR",
        "is_staff": False,
        "is_active": True,
        "created_at": body["data"]["created_at"],
        "updated_at": body["data"]["updated_at"],
        "devices": [],
    }
    assert "password" not in response.content.decode()
    assert identify_hasher(user.password).algorithm == "argon2"


def test_create_user_with_a_push_token_registers_an_android_device_by_default(service_client):
    token = fcm_token(1)

    response = service_client.post(
        LIST_URL, new_user_body(push_token=token, preferences={"email": False}), format="json"
    )

    data = response.json()["data"]
    assert response.status_code == 201
    assert data["preferences"] == {"email": False, "push": True}
    assert [(d["token"], d["platform"], d["active"]) for d in data["devices"]] == [(token, "android", True)]
    assert Device.objects.get().user_id == uuid.UUID(data["id"])


def test_create_user_with_a_push_token_and_platform(service_client):
    response = service_client.post(
        LIST_URL, new_user_body(push_token=fcm_token(1), platform="web"), format="json"
    )

    assert response.status_code == 201
    assert response.json()["data"]["devices"][0]["platform"] == "web"


def test_create_user_ignores_read_only_fields(service_client):
    forced_id = str(uuid.uuid4())

    response = service_client.post(
        LIST_URL,
        new_user_body(
            id=forced_id, is_staff=True, is_superuser=True, is_active=False, created_at="2000-01-01"
        ),
        format="json",
    )

    user = User.objects.get()
    assert response.status_code == 201
    assert str(user.id) != forced_id
    assert (user.is_staff, user.is_superuser, user.is_active) == (False, False, True)
    assert user.created_at.year != 2000


def test_create_user_by_staff(staff_client):
    response = staff_client.post(LIST_URL, new_user_body(), format="json")

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("client_fixture", "status", "error"),
    [
        ("anonymous_client", 401, "not_authenticated"),
        ("user_client", 403, "permission_denied"),
    ],
)
def test_create_user_is_for_api_keys_and_staff_only(request, client_fixture, status, error):
    client = request.getfixturevalue(client_fixture)
    users_before = User.objects.count()

    response = client.post(LIST_URL, new_user_body(email="new@example.com"), format="json")

    assert response.status_code == status
    assert response.json()["error"] == error
    assert User.objects.count() == users_before


@pytest.mark.parametrize("existing", ["foo@x.com", "Foo@X.com", "FOO@X.COM"])
def test_create_user_with_an_email_in_use_in_any_case_is_409(service_client, existing):
    UserFactory(email=existing.lower())

    response = service_client.post(
        LIST_URL, new_user_body(email="Foo@X.com", push_token=fcm_token(3)), format="json"
    )

    body = response.json()
    assert response.status_code == 409
    assert body["success"] is False
    assert body["error"] == "conflict"
    assert body["data"] == {"email": ["A user with this email already exists."]}
    assert User.objects.count() == 1
    assert Device.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "error_field"),
    [
        ({"name": 123}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 151}, "name"),
        ({"name": "nul\x00byte"}, "name"),
        ({"name": ["a"]}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"email": 5}, "email"),
        ({"email": "a" * 250 + "@x.com"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": 12345678}, "password"),
        ({"password": "p" * 257}, "password"),
        ({"push_token": "has spaces"}, "push_token"),
        ({"push_token": 42}, "push_token"),
        ({"push_token": "t" * 1025}, "push_token"),
        ({"push_token": "tok", "platform": "symbian"}, "platform"),
        ({"platform": "ios"}, "platform"),
        ({"preferences": {"email": "yes"}}, "preferences"),
        ({"preferences": {"email": 1}}, "preferences"),
        ({"preferences": {"sms": True}}, "preferences"),
        ({"preferences": ["email"]}, "preferences"),
        ({"preferences": None}, "preferences"),
    ],
)
def test_create_user_with_bad_input_is_400_with_field_errors_and_writes_nothing(
    service_client, body, error_field
):
    response = service_client.post(LIST_URL, new_user_body(**body), format="json")

    payload = response.json()
    assert response.status_code == 400
    assert payload["success"] is False
    assert payload["error"] == "validation_error"
    assert error_field in payload["data"]
    assert User.objects.count() == 0
    assert Device.objects.count() == 0


@pytest.mark.parametrize("missing", ["name", "email", "password"])
def test_create_user_without_a_required_field_is_400(service_client, missing):
    body = new_user_body()
    del body[missing]

    response = service_client.post(LIST_URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["data"] == {missing: ["This field is required."]}
    assert User.objects.count() == 0


@pytest.mark.parametrize("raw", ["[]", '"a string"', "42", "null", "[{}]"])
def test_create_user_with_a_non_object_body_is_400(service_client, raw):
    response = service_client.generic("POST", LIST_URL, raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert "non_field_errors" in response.json()["data"]
    assert User.objects.count() == 0


def test_create_user_with_a_form_body_is_415(service_client):
    response = service_client.post(LIST_URL, {"name": "x"})

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


# --- GET /api/v1/users/ -------------------------------------------------------------------------------------


def test_list_users_paginates_with_meta(service_client):
    UserFactory.create_batch(5)

    response = service_client.get(LIST_URL, {"page": 2, "limit": 2})

    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert len(body["data"]) == 2
    assert body["meta"] == {
        "total": 5,
        "limit": 2,
        "page": 2,
        "total_pages": 3,
        "has_next": True,
        "has_previous": True,
    }


def test_list_users_is_newest_first_and_shows_devices(staff_client, staff_user):
    older = UserFactory()
    newer = UserFactory()
    device = DeviceFactory(user=newer)

    response = staff_client.get(LIST_URL)

    data = response.json()["data"]
    assert [row["id"] for row in data] == [str(newer.id), str(older.id), str(staff_user.id)]
    assert [d["token"] for d in data[0]["devices"]] == [device.token]
    assert "password" not in data[0]


def test_list_users_filters_by_email_case_insensitively(service_client):
    wanted = UserFactory(email="wanted@example.com")
    UserFactory(email="other@example.com")

    response = service_client.get(LIST_URL, {"email": "WANTED@example.com"})

    assert [row["id"] for row in response.json()["data"]] == [str(wanted.id)]
    assert response.json()["meta"]["total"] == 1


def test_list_users_with_an_unknown_email_is_empty(service_client):
    UserFactory()

    response = service_client.get(LIST_URL, {"email": "nobody@example.com"})

    assert response.status_code == 200
    assert response.json()["data"] == []
    assert response.json()["meta"]["total"] == 0


def test_list_users_with_a_page_past_the_end_is_404(service_client):
    UserFactory()

    response = service_client.get(LIST_URL, {"page": 9})

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_list_users_caps_the_limit(service_client, settings):
    settings.PAGINATION_MAX_LIMIT = 3
    UserFactory.create_batch(4)

    response = service_client.get(LIST_URL, {"limit": 1000})

    assert response.json()["meta"]["limit"] == 3


def test_list_users_with_a_nul_in_the_filter_is_400(service_client):
    response = service_client.get(LIST_URL, {"email": "a\x00b"})

    assert response.status_code == 400
    assert "email" in response.json()["data"]


@pytest.mark.parametrize(
    ("client_fixture", "status"),
    [
        ("anonymous_client", 401),
        ("user_client", 403),
        ("service_client", 200),
        ("staff_client", 200),
    ],
)
def test_list_users_authorization(request, client_fixture, status):
    response = request.getfixturevalue(client_fixture).get(LIST_URL)

    assert response.status_code == status


def test_list_users_with_a_bad_bearer_token_is_401(anonymous_client):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")

    response = anonymous_client.get(LIST_URL)

    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


# --- GET /api/v1/users/{id} ---------------------------------------------------------------------------------

AUTHORIZATION_MATRIX = [
    ("anonymous_client", 401),
    ("other_user_client", 404),
    ("user_client", 200),
    ("service_client", 200),
    ("staff_client", 200),
]


@pytest.mark.parametrize(("client_fixture", "status"), AUTHORIZATION_MATRIX)
def test_get_user_authorization(request, user, client_fixture, status):
    response = request.getfixturevalue(client_fixture).get(detail_url(user.id))

    assert response.status_code == status
    if status == 200:
        assert response.json()["data"]["id"] == str(user.id)
        assert response.json()["data"]["email"] == user.email
    else:
        assert response.json()["data"] is None


def test_get_unknown_user_is_404(service_client):
    response = service_client.get(detail_url(uuid.uuid4()))

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "' OR 1=1 --"])
def test_get_user_with_a_malformed_id_is_a_json_404(service_client, bad_id):
    response = service_client.get(detail_url(bad_id))

    assert response.status_code == 404
    assert response.json()["success"] is False


def test_get_user_of_an_inactive_account_by_its_own_token_is_401(user, user_client):
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = user_client.get(detail_url(user.id))

    assert response.status_code == 401


# --- PATCH /api/v1/users/{id} -------------------------------------------------------------------------------


@pytest.mark.parametrize(("client_fixture", "status"), AUTHORIZATION_MATRIX)
def test_patch_user_authorization(request, user, client_fixture, status):
    response = request.getfixturevalue(client_fixture).patch(
        detail_url(user.id), {"name": "Changed"}, format="json"
    )

    assert response.status_code == status
    user.refresh_from_db()
    assert (user.name == "Changed") is (status == 200)


def test_patch_user_changes_the_fields_given(user_client, user):
    response = user_client.patch(
        detail_url(user.id),
        {
            "name": "New Name",
            "email": "NEW@example.com",
            "preferences": {"push": False},
            "current_password": DEFAULT_PASSWORD,
        },
        format="json",
    )

    data = response.json()["data"]
    assert response.status_code == 200
    assert (data["name"], data["email"], data["preferences"]) == (
        "New Name",
        "new@example.com",
        {"email": True, "push": False},
    )
    user.refresh_from_db()
    assert (user.name, user.email, user.preferences) == (
        "New Name",
        "new@example.com",
        {"email": True, "push": False},
    )


def test_patch_user_password_lets_the_user_log_in_with_it(user_client, anonymous_client, user):
    response = user_client.patch(
        detail_url(user.id),
        {"password": STRONG_PASSWORD, "current_password": DEFAULT_PASSWORD},
        format="json",
    )

    assert response.status_code == 200
    login = anonymous_client.post(
        "/api/v1/auth/login", {"email": user.email, "password": STRONG_PASSWORD}, format="json"
    )
    assert login.status_code == 200
    user.refresh_from_db()
    assert not user.check_password(DEFAULT_PASSWORD)


def test_patch_user_ignores_read_only_fields(user_client, user):
    original_id, original_created = user.id, user.created_at

    response = user_client.patch(
        detail_url(user.id),
        {
            "id": str(uuid.uuid4()),
            "is_staff": True,
            "is_superuser": True,
            "created_at": "2000-01-01T00:00:00Z",
        },
        format="json",
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.id, user.is_staff, user.is_superuser, user.created_at) == (
        original_id,
        False,
        False,
        original_created,
    )


def test_patch_user_to_an_email_in_use_is_409_and_changes_nothing(user_client, user, other_user):
    original = (user.name, user.email)

    response = user_client.patch(
        detail_url(user.id),
        {"name": "Changed", "email": other_user.email.upper(), "current_password": DEFAULT_PASSWORD},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    user.refresh_from_db()
    assert (user.name, user.email) == original


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": 7},
        {"name": "x" * 151},
        {"email": "nope"},
        {"password": "123"},
        {"password": None},
        {"preferences": {"email": "false"}},
        {"preferences": {}},
        {"name": "Fine", "preferences": {"other": True}},
    ],
)
def test_patch_user_with_bad_input_is_400_and_changes_nothing(user_client, user, body):
    before = User.objects.filter(pk=user.pk).values().get()

    response = user_client.patch(detail_url(user.id), body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert User.objects.filter(pk=user.pk).values().get() == before


def test_patch_user_with_a_list_body_is_400(user_client, user):
    response = user_client.patch(detail_url(user.id), [{"name": "x"}], format="json")

    assert response.status_code == 400
    assert "non_field_errors" in response.json()["data"]


def test_patch_user_invalidates_the_cached_profile(service_client, user):
    assert user_profile_get(user_id=user.id).name == user.name

    service_client.patch(detail_url(user.id), {"name": "Renamed"}, format="json")

    assert user_profile_get(user_id=user.id).name == "Renamed"


# --- DELETE /api/v1/users/{id} ------------------------------------------------------------------------------


@pytest.mark.parametrize(("client_fixture", "status"), AUTHORIZATION_MATRIX)
def test_delete_user_authorization(request, user, client_fixture, status):
    response = request.getfixturevalue(client_fixture).delete(detail_url(user.id))

    assert response.status_code == status
    assert User.objects.filter(pk=user.pk).exists() is (status != 200)


def test_delete_user_answers_the_envelope_with_null_data(service_client, user):
    DeviceFactory(user=user)
    user_profile_get(user_id=user.id)

    response = service_client.delete(detail_url(user.id))

    assert response.status_code == 200
    assert response.json() == {"success": True, "data": None, "error": None, "message": "OK", "meta": None}
    assert Device.objects.count() == 0
    assert user_profile_get(user_id=user.id) is None


def test_deleted_users_token_stops_working(user_client, user):
    user_client.delete(detail_url(user.id))

    response = user_client.get(detail_url(user.id))

    assert response.status_code == 401


def test_delete_unknown_user_is_404(service_client):
    response = service_client.delete(detail_url(uuid.uuid4()))

    assert response.status_code == 404


@pytest.mark.parametrize("language", ["english", "e", "en_US", "de-", 7])
def test_a_user_with_a_language_that_is_not_a_tag_is_refused_and_not_written(service_client, language):
    response = service_client.post(LIST_URL, new_user_body(language=language), format="json")

    assert response.status_code == 400
    assert "language" in response.json()["data"]
    assert not User.objects.exists()


def test_a_user_changes_their_language_and_clears_it(user_client, user):
    url = f"{LIST_URL}{user.id}"

    set_response = user_client.patch(url, {"language": "DE"}, format="json")
    cleared = user_client.patch(url, {"language": ""}, format="json")

    assert set_response.json()["data"]["language"] == "de"
    assert cleared.json()["data"]["language"] == ""
    user.refresh_from_db()
    assert user.language == ""
