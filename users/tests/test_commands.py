import json
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from users.models import APIKeyUse

pytestmark = pytest.mark.django_db


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue().splitlines()


def test_create_api_key_prints_the_key_alone_on_the_last_line():
    lines = run("billing-service")

    key = lines[-1]
    api_key = APIKey.objects.get_from_key(key)
    assert api_key.name == "billing-service"
    assert api_key.expiry_date is None
    assert api_key.is_valid(key)
    assert key.startswith(api_key.prefix + ".")
    assert key not in "\n".join(lines[:-1])


def test_the_printed_key_authenticates_against_the_api(anonymous_client):
    key = run("main-app")[-1]
    anonymous_client.credentials(HTTP_X_API_KEY=key)

    response = anonymous_client.get("/api/v1/users/")

    assert response.status_code == 200


def test_create_api_key_with_an_expiry():
    key = run("temporary", "--expires-days", "30")[-1]

    expiry = APIKey.objects.get_from_key(key).expiry_date
    assert timezone.now() + timedelta(days=29) < expiry <= timezone.now() + timedelta(days=30)


@pytest.mark.parametrize(
    "args",
    [
        ("",),
        ("   ",),
        ("x" * 51,),
        ("ok", "--expires-days", "0"),
        ("ok", "--expires-days", "-5"),
        ("ok", "--expires-days", "100000"),
    ],
)
def test_create_api_key_refuses_bad_input_and_creates_nothing(args):
    with pytest.raises(CommandError):
        run(*args)

    assert APIKey.objects.count() == 0


def test_create_api_key_refuses_a_non_numeric_expiry():
    with pytest.raises(CommandError):
        run("ok", "--expires-days", "soon")

    assert APIKey.objects.count() == 0


def apikey(*args: str) -> str:
    out = StringIO()
    call_command("apikey", *args, stdout=out)
    return out.getvalue()


def test_apikey_create_list_and_revoke(anonymous_client):
    from django.test import override_settings

    key = apikey("create", "billing-service", "--expires-days", "30").splitlines()[-1]
    other = apikey("create", "crm").splitlines()[-1]
    prefix = APIKey.objects.get_from_key(key).prefix

    listed = json.loads(apikey("list", "--json"))
    table = apikey("list")
    dry = apikey("revoke", prefix, "--dry-run")
    still_valid = APIKey.objects.is_valid(key)
    revoked = apikey("revoke", prefix)
    again = apikey("revoke", prefix)

    assert [(row["name"], row["valid"], row["revoked"]) for row in listed] == [
        ("crm", True, False),
        ("billing-service", True, False),
    ]
    assert listed[1]["prefix"] == prefix and listed[1]["expires"] is not None and listed[0]["expires"] is None
    assert key not in table and prefix in table and "never" in table
    assert "Would revoke" in dry and still_valid
    assert "Revoked API key 'billing-service'" in revoked
    assert "already revoked" in again
    assert not APIKey.objects.is_valid(key)
    assert APIKey.objects.is_valid(other)
    anonymous_client.credentials(HTTP_X_API_KEY=key)
    with override_settings(API_KEY_CACHE_SECONDS=0):
        assert anonymous_client.get("/api/v1/users/").status_code == 401
    assert "revoked" in apikey("list")


def test_apikey_revoke_of_an_unknown_prefix_changes_nothing():
    apikey("create", "crm")

    with pytest.raises(CommandError, match="No API key has the prefix"):
        apikey("revoke", "nope")

    assert APIKey.objects.filter(revoked=True).count() == 0


def test_apikey_list_shows_when_each_key_was_last_used(anonymous_client):
    from notifier.api import authentication

    used = apikey("create", "billing-service").splitlines()[-1]
    apikey("create", "idle-service")
    authentication._verified.clear()  # this process has not verified the key yet
    before = timezone.now()
    anonymous_client.credentials(HTTP_X_API_KEY=used)

    first = anonymous_client.get("/api/v1/users/")
    after_first = APIKeyUse.objects.get().last_used_at
    second = anonymous_client.get("/api/v1/users/")  # trusted from the process's cache: no second write
    listed = {row["name"]: row["last_used"] for row in json.loads(apikey("list", "--json"))}

    assert (first.status_code, second.status_code) == (200, 200)
    assert APIKeyUse.objects.get().last_used_at == after_first
    assert listed["idle-service"] is None
    assert before <= datetime.fromisoformat(listed["billing-service"]) <= timezone.now()
    assert "never" in apikey("list")
