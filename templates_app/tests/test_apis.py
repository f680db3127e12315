import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from templates_app.models import Template, TemplateVersion
from templates_app.services import template_create_or_version

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"
EMAIL = {
    "code": "welcome",
    "language": "en",
    "notification_type": "email",
    "subject": "Hi {{name}}",
    "body": "Welcome, {{name}}.",
    "html_body": "<p>Welcome, {{name}}.</p>",
    "description": "Sent after sign-up",
}


def _seed(**overrides) -> TemplateVersion:
    return template_create_or_version(**{**EMAIL, **overrides})


def _post(client, url, body):
    return client.post(url, body, format="json")


def _error(response):
    body = response.json()
    assert body["success"] is False
    return body["error"], body["data"]


def _nothing_written(templates=0, versions=0):
    return Template.objects.count() == templates and TemplateVersion.objects.count() == versions


# --- POST /api/v1/templates/ ---------------------------------------------------------------------------


def test_create_returns_201_with_the_version(service_client):
    response = _post(service_client, URL, EMAIL)

    body = response.json()
    assert response.status_code == 201
    assert body["success"] is True
    data = body["data"]
    created_at = data.pop("created_at")
    assert created_at.endswith("Z")
    assert data == {
        "code": "welcome",
        "language": "en",
        "notification_type": "email",
        "version": 1,
        "subject": "Hi {{name}}",
        "body": "Welcome, {{name}}.",
        "html_body": "<p>Welcome, {{name}}.</p>",
        "image_url": "",
        "link": "",
        "description": "Sent after sign-up",
        "variables": {"required": ["name"], "optional": []},
        "is_active": True,
    }


def test_create_again_makes_versions_2_and_3(staff_client):
    versions = [
        _post(staff_client, URL, {**EMAIL, "subject": f"v{n}"}).json()["data"]["version"] for n in range(3)
    ]

    assert versions == [1, 2, 3]
    assert Template.objects.get().versions.count() == 3


def test_create_push_with_image_and_link(service_client):
    response = _post(
        service_client,
        URL,
        {
            "code": "order-shipped",
            "language": "pt-br",
            "notification_type": "push",
            "subject": "Pedido {{order}}",
            "body": "Saiu para entrega",
            "image_url": "https://img.test/{{order}}.png",
            "link": "{{tracking_url}}",
        },
    )

    data = response.json()["data"]
    assert response.status_code == 201
    assert (data["language"], data["image_url"], data["link"]) == (
        "pt-BR",
        "https://img.test/{{order}}.png",
        "{{tracking_url}}",
    )
    assert data["variables"] == {"required": ["order", "tracking_url"], "optional": []}


def test_create_syntax_error_is_400_with_the_parser_message_and_writes_nothing(service_client):
    response = _post(service_client, URL, {**EMAIL, "html_body": "<p>{{#items}}</p>"})

    assert response.status_code == 400
    assert response.json()["message"] == (
        "Template syntax error in html_body: Did not find a matching tag for {{#items}}. "
        "Its section starts at position 13"
    )
    assert _error(response) == (
        "template_syntax_error",
        {"html_body": ["Did not find a matching tag for {{#items}}. Its section starts at position 13"]},
    )
    assert _nothing_written()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "Not a slug!"}, "code"),
        ({"code": "x" * 101}, "code"),
        ({"language": "english"}, "language"),
        ({"language": "e"}, "language"),
        ({"language": "en-" + "a" * 20}, "language"),
        ({"notification_type": "sms"}, "notification_type"),
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 999}, "subject"),
        ({"subject": ["a"]}, "subject"),
        ({"subject": "a\x00b"}, "subject"),
        ({"body": None}, "body"),
        ({"body": "a\x00b"}, "body"),
        ({"description": "d" * 501}, "description"),
        ({"image_url": "not a url"}, "image_url"),
        ({"image_url": "javascript:alert(1)"}, "image_url"),
        ({"code": "render"}, "code"),
        ({"link": "https://x.test"}, "link"),  # push only
    ],
)
def test_create_bad_input_is_400_with_field_errors_and_writes_nothing(service_client, change, field):
    body = {**EMAIL, **change}
    for key in [k for k, v in change.items() if v is None]:
        body.pop(key)

    response = _post(service_client, URL, body)

    assert response.status_code == 400
    error, data = _error(response)
    assert error == "validation_error"
    assert list(data) == [field]
    assert _nothing_written()


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "{not json", ""])
def test_create_body_must_be_a_json_object(service_client, raw):
    response = service_client.generic("POST", URL, raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] in {"validation_error", "parse_error"}
    assert _nothing_written()


def test_create_ignores_read_only_fields(service_client):
    response = _post(
        service_client, URL, {**EMAIL, "version": 99, "is_active": False, "created_at": "2000-01-01"}
    )

    assert response.status_code == 201
    assert response.json()["data"]["version"] == 1


@pytest.mark.parametrize(
    ("client_name", "status"),
    [
        ("anonymous_client", 401),
        ("other_user_client", 403),
        ("user_client", 403),
        ("service_client", 201),
        ("staff_client", 201),
    ],
)
def test_create_authorization(request, client_name, status):
    response = _post(request.getfixturevalue(client_name), URL, EMAIL)

    assert response.status_code == status
    assert Template.objects.count() == (1 if status == 201 else 0)


# --- GET /api/v1/templates/ ----------------------------------------------------------------------------


def test_list_shows_each_template_with_its_active_content_and_pagination_meta(service_client):
    _seed()
    _seed(subject="Hello {{name}}")
    _seed(code="bye", description="")

    response = service_client.get(URL, {"limit": 1, "page": 2})

    body = response.json()
    assert response.status_code == 200
    assert body["meta"] == {
        "total": 2,
        "limit": 1,
        "page": 2,
        "total_pages": 2,
        "has_next": False,
        "has_previous": True,
    }
    [item] = body["data"]
    item.pop("created_at"), item.pop("updated_at")
    assert item == {
        "code": "welcome",
        "language": "en",
        "notification_type": "email",
        "description": "Sent after sign-up",
        "active_version": 2,
        "versions_count": 2,
        "subject": "Hello {{name}}",
        "body": "Welcome, {{name}}.",
        "html_body": "<p>Welcome, {{name}}.</p>",
        "image_url": "",
        "link": "",
        "variables": {"required": ["name"], "optional": []},
    }


def test_list_filters(service_client):
    _seed()
    _seed(language="pt-BR")
    _seed(code="other", notification_type="push", html_body="")

    def codes(**params):
        return [
            (t["code"], t["language"], t["notification_type"])
            for t in service_client.get(URL, params).json()["data"]
        ]

    assert codes(code="welcome") == [("welcome", "en", "email"), ("welcome", "pt-BR", "email")]
    assert codes(language="PT-br") == [("welcome", "pt-BR", "email")]
    assert codes(notification_type="push") == [("other", "en", "push")]


@pytest.mark.parametrize("params", [{"language": "!!"}, {"notification_type": "sms"}, {"code": "no slug"}])
def test_list_bad_filters_are_400(service_client, params):
    response = service_client.get(URL, params)

    assert response.status_code == 400
    assert _error(response)[0] == "validation_error"
    assert list(_error(response)[1]) == list(params)


@pytest.mark.parametrize(
    ("client_name", "status"),
    [
        ("anonymous_client", 401),
        ("other_user_client", 200),
        ("user_client", 200),
        ("service_client", 200),
        ("staff_client", 200),
    ],
)
def test_list_authorization(request, client_name, status):
    _seed()

    response = request.getfixturevalue(client_name).get(URL)

    assert response.status_code == status
    if status == 200:
        assert [t["code"] for t in response.json()["data"]] == ["welcome"]


# --- GET /api/v1/templates/{code} ----------------------------------------------------------------------


def test_detail_lists_the_variants_of_a_code(user_client):
    _seed()
    _seed(language="fr", subject="Salut {{name}}")
    _seed(notification_type="push", html_body="", subject="Push {{name}}")
    _seed(code="other")

    response = user_client.get(f"{URL}welcome")

    data = response.json()["data"]
    assert response.status_code == 200
    assert data["code"] == "welcome"
    assert [
        (v["language"], v["notification_type"], v["subject"], v["active_version"]) for v in data["variants"]
    ] == [
        ("en", "email", "Hi {{name}}", 1),
        ("en", "push", "Push {{name}}", 1),
        ("fr", "email", "Salut {{name}}", 1),
    ]


def test_detail_narrows_by_language_and_type(user_client):
    _seed()
    _seed(language="fr")
    _seed(notification_type="push", html_body="")

    response = user_client.get(f"{URL}welcome", {"language": "en", "notification_type": "push"})

    assert [(v["language"], v["notification_type"]) for v in response.json()["data"]["variants"]] == [
        ("en", "push")
    ]


@pytest.mark.parametrize("path", ["unknown", "welcome?language=de", "not%20a%20slug"])
def test_detail_unknown_is_404(user_client, path):
    _seed()

    response = user_client.get(f"{URL}{path}")

    assert response.status_code == 404
    assert response.json()["success"] is False


@pytest.mark.parametrize(
    ("client_name", "status"),
    [
        ("anonymous_client", 401),
        ("other_user_client", 200),
        ("user_client", 200),
        ("service_client", 200),
        ("staff_client", 200),
    ],
)
def test_detail_authorization(request, client_name, status):
    _seed()

    assert request.getfixturevalue(client_name).get(f"{URL}welcome").status_code == status


# --- GET /api/v1/templates/{code}/versions --------------------------------------------------------------


def test_versions_history_is_paginated_newest_first(service_client):
    for n in range(1, 4):
        _seed(subject=f"v{n}")

    first_page = service_client.get(f"{URL}welcome/versions", {"limit": 2})
    second_page = service_client.get(f"{URL}welcome/versions", {"limit": 2, "page": 2})

    assert [(v["version"], v["subject"], v["is_active"]) for v in first_page.json()["data"]] == [
        (3, "v3", True),
        (2, "v2", False),
    ]
    assert [v["version"] for v in second_page.json()["data"]] == [1]
    assert first_page.json()["meta"] == {
        "total": 3,
        "limit": 2,
        "page": 1,
        "total_pages": 2,
        "has_next": True,
        "has_previous": False,
    }


def test_versions_filters(service_client):
    _seed()
    _seed(language="fr")
    _seed(notification_type="push", html_body="")

    response = service_client.get(f"{URL}welcome/versions", {"language": "fr"})
    pushes = service_client.get(f"{URL}welcome/versions", {"notification_type": "push"})

    assert [(v["language"], v["notification_type"]) for v in response.json()["data"]] == [("fr", "email")]
    assert [(v["language"], v["notification_type"]) for v in pushes.json()["data"]] == [("en", "push")]


def test_versions_of_unknown_code_is_404(service_client):
    response = service_client.get(f"{URL}unknown/versions")

    assert response.status_code == 404
    assert _error(response) == ("template_not_found", None)


@pytest.mark.parametrize(
    ("client_name", "status"),
    [
        ("anonymous_client", 401),
        ("other_user_client", 200),
        ("user_client", 200),
        ("service_client", 200),
        ("staff_client", 200),
    ],
)
def test_versions_authorization(request, client_name, status):
    _seed()

    assert request.getfixturevalue(client_name).get(f"{URL}welcome/versions").status_code == status


# --- POST /api/v1/templates/{code}/activate -------------------------------------------------------------


def test_activate_rolls_back_to_an_older_version(service_client):
    first = _seed(subject="v1")
    _seed(subject="v2")

    response = _post(service_client, f"{URL}welcome/activate", {"version": 1, "language": "EN"})

    data = response.json()["data"]
    assert response.status_code == 200
    assert (data["version"], data["subject"], data["is_active"]) == (1, "v1", True)
    assert Template.objects.get().active_version_id == first.id


def test_activate_needs_the_type_when_ambiguous(service_client):
    _seed()
    _seed(notification_type="push", html_body="")

    response = _post(service_client, f"{URL}welcome/activate", {"version": 1, "language": "en"})

    assert response.status_code == 400
    assert _error(response) == (
        "validation_error",
        {"notification_type": ["Required: 'welcome' exists for email, push."]},
    )


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"version": 7, "language": "en"}, 404, "template_not_found"),
        ({"version": 1, "language": "fr"}, 404, "template_not_found"),
        ({"version": 0, "language": "en"}, 400, "validation_error"),
        ({"version": "two", "language": "en"}, 400, "validation_error"),
        ({"version": 2**40, "language": "en"}, 400, "validation_error"),
        ({"language": "en"}, 400, "validation_error"),
        ({"version": 1}, 400, "validation_error"),
        ({"version": 1, "language": "en", "notification_type": "fax"}, 400, "validation_error"),
    ],
)
def test_activate_bad_input_changes_nothing(service_client, body, status, error):
    _seed()
    latest = _seed()

    response = _post(service_client, f"{URL}welcome/activate", body)

    assert response.status_code == status
    assert _error(response)[0] == error
    assert Template.objects.get().active_version_id == latest.id


def test_activate_unknown_code_is_404(service_client):
    response = _post(service_client, f"{URL}unknown/activate", {"version": 1, "language": "en"})

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("client_name", "status"),
    [
        ("anonymous_client", 401),
        ("other_user_client", 403),
        ("user_client", 403),
        ("service_client", 200),
        ("staff_client", 200),
    ],
)
def test_activate_authorization(request, client_name, status):
    first = _seed()
    latest = _seed()

    response = _post(
        request.getfixturevalue(client_name), f"{URL}welcome/activate", {"version": 1, "language": "en"}
    )

    assert response.status_code == status
    expected = first if status == 200 else latest
    assert Template.objects.get().active_version_id == expected.id


# --- POST /api/v1/templates/render ---------------------------------------------------------------------

RENDER = f"{URL}render"


def test_render_returns_the_rendered_parts(user_client):
    _seed()

    response = _post(user_client, RENDER, {"template_code": "welcome", "variables": {"name": "<b>&\"'"}})

    assert response.status_code == 200
    assert response.json()["data"] == {
        "subject": "Hi <b>&\"'",
        "body": "Welcome, <b>&\"'.",
        "html_body": "<p>Welcome, &lt;b&gt;&amp;&quot;&#x27;.</p>",
        "image_url": "",
        "link": "",
        "version": 1,
        "language": "en",
    }


def test_render_falls_back_and_reports_the_language_used(service_client):
    _seed()
    _seed(language="pt", subject="Olá {{name}}")
    _seed(language="pt-BR", subject="Oi {{name}}")

    def rendered(language):
        body = {"template_code": "welcome", "language": language, "variables": {"name": "Ana"}}
        data = _post(service_client, RENDER, body).json()["data"]
        return data["language"], data["subject"]

    assert rendered("pt-BR") == ("pt-BR", "Oi Ana")
    assert rendered("pt-PT") == ("pt", "Olá Ana")
    assert rendered("de") == ("en", "Hi Ana")


def test_render_a_given_version_and_type(service_client):
    _seed(subject="old {{name}}")
    _seed(subject="new {{name}}")
    _seed(notification_type="push", html_body="", subject="push {{name}}")

    email = _post(
        service_client,
        RENDER,
        {"template_code": "welcome", "notification_type": "email", "version": 1, "variables": {"name": "A"}},
    )
    push = _post(
        service_client,
        RENDER,
        {"template_code": "welcome", "notification_type": "push", "variables": {"name": "A"}},
    )
    ambiguous = _post(service_client, RENDER, {"template_code": "welcome", "variables": {"name": "A"}})

    assert (email.json()["data"]["subject"], email.json()["data"]["version"]) == ("old A", 1)
    assert push.json()["data"]["subject"] == "push A"
    assert ambiguous.status_code == 400
    assert _error(ambiguous)[0] == "validation_error"


def test_render_missing_variables_names_them_all(service_client):
    _seed(subject="{{greeting}} {{name}}", body="{{user.email}}")

    response = _post(service_client, RENDER, {"template_code": "welcome", "variables": {"greeting": "Hi"}})

    assert response.status_code == 400
    assert response.json()["message"] == "Missing template variables: name, user"
    assert _error(response) == ("missing_variables", {"missing": ["name", "user"]})


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"template_code": "unknown"}, 404, None),
        ({"template_code": "welcome", "version": 5, "variables": {"name": "A"}}, 404, None),
        ({"template_code": "welcome", "variables": [1, 2]}, 400, "variables"),
        ({"template_code": "welcome", "variables": "name=A"}, 400, "variables"),
        ({"template_code": "welcome", "variables": {"name": "a\x00b"}}, 400, "variables"),
        ({"template_code": "welcome", "variables": {"na\x00me": "a"}}, 400, "variables"),
        ({"template_code": "welcome", "variables": {"name": "x" * (64 * 1024)}}, 400, "variables"),
        (
            {"template_code": "welcome", "variables": {"name": "A", "deep": json.loads("[" * 10 + "]" * 10)}},
            400,
            "variables",
        ),
        ({"template_code": "welcome", "language": "!!", "variables": {}}, 400, "language"),
        ({"template_code": "welcome", "version": -1}, 400, "version"),
        ({"template_code": "no slug"}, 400, "template_code"),
        ({"variables": {}}, 400, "template_code"),
    ],
)
def test_render_bad_input(service_client, body, status, field):
    _seed()

    response = _post(service_client, RENDER, body)

    assert response.status_code == status
    if field:
        assert _error(response)[0] == "validation_error"
        assert list(_error(response)[1]) == [field]


def test_render_accepts_variables_nested_ten_levels(service_client):
    _seed()
    nested = json.loads("[" * 9 + "]" * 9)

    response = _post(
        service_client, RENDER, {"template_code": "welcome", "variables": {"name": "A", "deep": nested}}
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("client_name", "status"),
    [
        ("anonymous_client", 401),
        ("other_user_client", 200),
        ("user_client", 200),
        ("service_client", 200),
        ("staff_client", 200),
    ],
)
def test_render_authorization(request, client_name, status):
    _seed()

    response = _post(
        request.getfixturevalue(client_name), RENDER, {"template_code": "welcome", "variables": {"name": "A"}}
    )

    assert response.status_code == status


def test_get_on_render_is_405_not_a_template_lookup(service_client):
    assert service_client.get(RENDER).status_code == 405


@pytest.mark.parametrize("path", ["", "welcome/versions"])
def test_list_queries_do_not_grow_with_the_number_of_rows(service_client, path):
    _seed()
    service_client.get(f"{URL}{path}")  # warm: the API key is then verified from the process's cache
    with CaptureQueriesContext(connection) as one:
        service_client.get(f"{URL}{path}")
    for n in range(4):
        _seed(language=f"fr-{n}{n}")
    with CaptureQueriesContext(connection) as five:
        response = service_client.get(f"{URL}{path}")

    assert len(response.json()["data"]) == 5
    assert len(five.captured_queries) == len(one.captured_queries)


def test_a_body_nested_too_deeply_for_the_decoder_is_400(service_client):
    raw = '{"template_code": "welcome", "variables": ' + "[" * 50_000 + "]" * 50_000 + "}"

    response = service_client.generic("POST", RENDER, raw, content_type="application/json")

    assert response.status_code == 400
    assert _error(response) == ("parse_error", None)
