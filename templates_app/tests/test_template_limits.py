"""POST /api/v1/templates/ refuses what would exhaust or fool the renderer, with a 400 that says why."""

import pytest

from templates_app.models import Template, TemplateVersion

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"


def _nested(depth: int) -> str:
    return (
        "".join(f"{{{{#s{n}}}}}" for n in range(depth))
        + "x"
        + "".join(f"{{{{/s{n}}}}}" for n in reversed(range(depth)))
    )


def _email(**fields):
    return {"code": "welcome", "notification_type": "email", "subject": "Hi", "body": "Body", **fields}


@pytest.mark.parametrize("depth", [11, 500, 1_000])
def test_deeply_nested_sections_are_a_400_naming_the_limit(service_client, depth):
    response = service_client.post(URL, _email(body=_nested(depth)), format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "template_syntax_error"
    assert "nested more than 10 deep (TEMPLATE_MAX_NESTING_DEPTH)" in body["data"]["body"][0]
    assert not TemplateVersion.objects.exists()


@pytest.mark.parametrize("subject", ["Hi {{name", "Hi }} there"])
def test_an_unclosed_or_stray_tag_is_a_400(service_client, subject):
    response = service_client.post(URL, _email(subject=subject), format="json")

    assert response.status_code == 400
    assert "that is not a tag" in response.json()["data"]["subject"][0]
    assert not Template.objects.exists()


def test_language_defaults_to_the_default_language(service_client, settings):
    settings.DEFAULT_LANGUAGE = "pt-br"

    response = service_client.post(URL, _email(), format="json")

    assert response.status_code == 201
    assert response.json()["data"]["language"] == "pt-BR"
    assert Template.objects.get().language == "pt-BR"


def test_rendering_past_the_bound_through_the_api_is_a_400(service_client, settings):
    settings.RENDER_MAX_EMAIL_BODY_CHARS = 1_000
    settings.TEMPLATE_RENDER_LIMITS = {"email": {"subject": 998, "body": 1_000, "html_body": 1_000}}
    service_client.post(URL, _email(body="{{#items}}0123456789{{/items}}"), format="json")

    response = service_client.post(
        f"{URL}render",
        {"template_code": "welcome", "variables": {"items": list(range(101))}},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"] == "render_limit_exceeded"
