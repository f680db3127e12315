from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework_api_key.models import APIKey

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
