"""Bad input gets a clear 4xx in the envelope and changes nothing: the cases an attack pass found."""

import pytest
from django.test import Client

from notifications.models import Notification, OutboxEntry
from templates_app.tests.factories import TemplateFactory, TemplateVersionFactory

pytestmark = pytest.mark.django_db

LONE_SURROGATE = '"\\ud800"'


@pytest.fixture
def email_template(db):
    template = TemplateFactory(code="welcome", notification_type="email", language="en")
    version = TemplateVersionFactory(
        template=template, version=1, subject="Hi {{name}}", body="Hello {{name}}", html_body="",
        variables={"required": ["name"], "optional": []},
    )  # fmt: skip
    template.active_version = version
    template.save()
    return template


def _raw_post(client, url: str, raw: str):
    return client.generic("POST", url, raw.encode(), content_type="application/json")


@pytest.mark.parametrize(
    "where",
    [
        '"variables": {{"name": {s}}}',
        '"variables": {{"name": "Ada"}}, "metadata": {{"note": {s}}}',
        '"variables": {{"name": "Ada", {s}: 1}}',
    ],
)
def test_a_lone_surrogate_in_a_notification_is_400_and_writes_nothing(
    service_client, user, email_template, where
):
    fields = where.format(s=LONE_SURROGATE)
    raw = (
        f'{{"notification_type": "email", "user_id": "{user.id}", "template_code": "welcome", '
        f'"request_id": "r-1", {fields}}}'
    )

    response = _raw_post(service_client, "/api/v1/notifications/", raw)

    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"
    assert "unpaired surrogate" in response.json()["message"]
    assert not Notification.objects.exists() and not OutboxEntry.objects.exists()


def test_a_surrogate_pair_is_text_and_accepted(service_client, user, email_template):
    raw = (
        f'{{"notification_type": "email", "user_id": "{user.id}", "template_code": "welcome", '
        '"request_id": "r-2", "variables": {"name": "\\ud83d\\ude00"}}'
    )

    response = _raw_post(service_client, "/api/v1/notifications/", raw)

    assert response.status_code == 202
    assert Notification.objects.get().variables == {"name": "\U0001f600"}


def test_a_lone_surrogate_in_render_variables_is_400(service_client, email_template):
    raw = '{"template_code": "welcome", "variables": {"name": ' + LONE_SURROGATE + "}}"

    response = _raw_post(service_client, "/api/v1/templates/render", raw)

    assert response.status_code == 400


@pytest.mark.parametrize("page", ["0", "abc", "-1", "1.5", ""])
def test_a_page_that_is_not_a_whole_number_from_1_is_400(service_client, page):
    response = service_client.get("/api/v1/users/", {"page": page})

    assert response.status_code == 400
    assert response.json()["data"] == {"page": ["A whole number from 1."]}


def test_an_upper_case_uuid_names_the_same_user(service_client, user):
    response = service_client.get(f"/api/v1/users/{str(user.id).upper()}")

    assert response.status_code == 200
    assert response.json()["data"]["id"] == str(user.id)


def test_a_chunked_body_is_411(service_client, user, email_template):
    response = service_client.generic(
        "POST",
        "/api/v1/notifications/",
        b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
    )

    assert response.status_code == 411
    assert response.json()["error"] == "length_required"


def test_a_host_not_allowed_answers_the_envelope():
    response = Client().get("/api/v1/users/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["success"] is False


@pytest.mark.parametrize("path", ["/api/v1/notifications", "/api/v1/notifications/"])
def test_a_post_reaches_its_route_with_or_without_the_trailing_slash(
    service_client, user, email_template, path
):
    response = service_client.post(
        path,
        {
            "notification_type": "email", "user_id": str(user.id), "template_code": "welcome",
            "variables": {"name": "Ada"}, "request_id": f"slash-{len(path)}",
        },
        format="json",
    )  # fmt: skip

    assert response.status_code == 202
    assert Notification.objects.filter(request_id=f"slash-{len(path)}").count() == 1


@pytest.mark.parametrize("suffix", ["", "/"])
def test_routes_without_a_slash_also_answer_with_one(service_client, user, suffix):
    assert service_client.get(f"/api/v1/users/{user.id}{suffix}").status_code == 200
    assert service_client.get(f"/api/v1/users{suffix}").status_code == 200


def test_an_unknown_api_path_is_still_a_json_404(service_client):
    response = service_client.post("/api/v1/nowhere", {}, format="json")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
