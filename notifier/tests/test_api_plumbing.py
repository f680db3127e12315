"""The envelope, correlation ids, size limits and health endpoints, seen from a client."""

import json
import logging

import pytest
from django.db import connection
from django.test import override_settings

from notifier.logging import LogContextFilter, process_role


def test_health_answers_in_the_envelope(anonymous_client):
    response = anonymous_client.get("/health")

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": {"status": "ok"},
        "error": None,
        "message": "OK",
        "meta": None,
    }


@pytest.mark.django_db
def test_ready_reports_each_dependency(anonymous_client):
    response = anonymous_client.get("/ready")

    assert response.status_code == 200
    assert response.json()["data"] == {
        "status": "ready",
        "checks": {"postgresql": "ok", "redis": "ok", "rabbitmq": "ok"},
    }


@pytest.mark.django_db
def test_ready_is_503_when_the_broker_is_unreachable(anonymous_client):
    with override_settings(CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:1//"):
        response = anonymous_client.get("/ready")

    body = response.json()
    assert response.status_code == 503
    assert body["success"] is False
    assert body["error"] == "not_ready"
    assert body["data"]["checks"]["rabbitmq"].startswith("down")
    assert body["data"]["checks"]["postgresql"] == "ok"


def test_unknown_url_is_a_json_404(anonymous_client):
    response = anonymous_client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert response.json()["success"] is False


def test_correlation_id_is_echoed_when_well_formed(anonymous_client):
    response = anonymous_client.get("/health", HTTP_X_CORRELATION_ID="req-123.abc")

    assert response["X-Correlation-ID"] == "req-123.abc"


def test_correlation_id_is_replaced_when_malformed(anonymous_client):
    response = anonymous_client.get("/health", HTTP_X_CORRELATION_ID="bad id\twith spaces")

    assert response["X-Correlation-ID"] != "bad id\twith spaces"
    assert len(response["X-Correlation-ID"]) == 32


def test_correlation_id_is_generated_when_absent(anonymous_client):
    first = anonymous_client.get("/health")["X-Correlation-ID"]
    second = anonymous_client.get("/health")["X-Correlation-ID"]

    assert first and second and first != second


@override_settings(API_MAX_BODY_BYTES=1000)
def test_oversized_body_is_413_before_parsing(service_client):
    response = service_client.generic(
        "POST", "/api/v1/users/", json.dumps({"name": "x" * 2000}), content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


@pytest.mark.django_db
def test_a_chunked_body_without_content_length_is_refused_unread(service_client, settings):
    """Without Content-Length (Transfer-Encoding: chunked) Django would read no body at all and answer
    "field required"; the request is refused with 411 instead, and a large body cannot slip past the
    size limit."""
    from django.test.client import FakePayload

    from users.models import User

    settings.API_MAX_BODY_BYTES = 1000
    body = json.dumps({"name": "x" * 5000, "email": "chunked@example.com", "password": "a-l0ng-pass"})

    response = service_client.generic(
        "POST",
        "/api/v1/users/",
        b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": FakePayload(body.encode())},
    )

    assert response.status_code == 411
    assert response.json()["error"] == "length_required"
    assert not User.objects.filter(email="chunked@example.com").exists()


@pytest.mark.django_db
def test_malformed_json_is_a_400_parse_error(service_client):
    response = service_client.generic("POST", "/api/v1/users/", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"


@pytest.mark.django_db
def test_invalid_api_key_is_401(anonymous_client):
    anonymous_client.credentials(HTTP_X_API_KEY="nope.nope")

    response = anonymous_client.get("/api/v1/users/")

    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


def test_log_records_carry_the_correlation_id(anonymous_client, caplog):
    from notifier.logging import correlation_id_set

    correlation_id_set("abc-123")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
        LogContextFilter().filter(record)
    finally:
        correlation_id_set(None)

    assert record.correlation_id == "abc-123"
    assert record.role == "pytest"


@pytest.mark.parametrize(
    ("argv", "role"),
    [
        (["/srv/.venv/bin/gunicorn", "notifier.wsgi"], "api"),
        (["/srv/celery/__main__.py", "-A", "notifier", "--quiet", "worker", "--hostname", "email-urgent@%h"],
         "worker:email-urgent"),
        (["/srv/celery/__main__.py", "-A", "notifier", "beat"], "scheduler"),
        (["/srv/gunicorn/__main__.py", "notifier.wsgi"], "api"),
        (["/srv/celery/__main__.py", "-A", "notifier", "--quiet", "flower", "--port=5555"], "flower"),
        (["manage.py", "outbox_relay"], "relay"),
        (["manage.py", "prune", "--dry-run"], "prune"),
        ([], "python"),
    ],
)  # fmt: skip
def test_each_process_names_its_role_in_its_log_lines(argv, role):
    assert process_role(argv) == role


@pytest.mark.django_db
def test_schema_describes_the_envelope(anonymous_client):
    response = anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert "ErrorEnvelope" in schema["components"]["schemas"]
    assert connection.vendor == "postgresql"


def test_the_schema_validates_without_a_warning(tmp_path):
    from django.core.management import call_command

    # --fail-on-warn raises on any warning (an enum name collision, an unresolvable serializer...).
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    schema = (tmp_path / "schema.yaml").read_text()
    assert "/api/v1/topics/{key}/subscribers:" in schema
    assert "BroadcastStatusEnum:" in schema


@pytest.mark.django_db
def test_a_revoked_api_key_is_refused_once_its_cache_window_passed(settings, anonymous_client):
    from rest_framework_api_key.models import APIKey

    settings.API_KEY_CACHE_SECONDS = 0
    api_key, key = APIKey.objects.create_key(name="soon revoked")
    anonymous_client.credentials(HTTP_X_API_KEY=key)
    assert anonymous_client.get("/api/v1/users/").status_code == 200

    api_key.revoked = True
    api_key.save()

    assert anonymous_client.get("/api/v1/users/").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/notifications/?user_id=",
        "/api/v1/notifications/?status=",
        "/api/v1/templates/?notification_type=",
        "/api/v1/templates/welcome?language=",
        "/api/v1/users/?email=",
        "/api/v1/users/?email=not-an-address",
        "/api/v1/users/?limit=0",
        "/api/v1/users/?limit=null",
        "/api/v1/templates/?limit=-1",
        "/api/v1/notifications/?limit=2.5",
    ],
)
def test_a_query_parameter_given_empty_or_malformed_is_a_400(service_client, url):
    """Found by the schema fuzzer: these used to be read as absent (the whole list came back)."""
    response = service_client.get(url)

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


@pytest.mark.django_db
def test_a_limit_above_the_maximum_is_capped(service_client, settings):
    settings.PAGINATION_MAX_LIMIT = 3

    response = service_client.get("/api/v1/notifications/?limit=1000")

    assert response.json()["meta"]["limit"] == 3


def test_api_requests_pass_the_session_auth_and_messages_middleware_by():
    from django.http import HttpResponse
    from django.test import RequestFactory

    from notifier.api.middleware import AuthenticationMiddleware, MessageMiddleware, SessionMiddleware

    seen = {}

    def view(request):
        seen.update(
            session=hasattr(request, "session"),
            user=hasattr(request, "user"),
            messages=hasattr(request, "_messages"),
        )
        return HttpResponse()

    chain = SessionMiddleware(AuthenticationMiddleware(MessageMiddleware(view)))
    chain(RequestFactory().get("/api/v1/notifications/"))
    assert seen == {"session": False, "user": False, "messages": False}
    chain(RequestFactory().get("/admin/"))
    assert seen == {"session": True, "user": True, "messages": True}


@pytest.mark.django_db
def test_the_admin_still_checks_csrf():
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "a", "password": "b"})

    assert response.status_code == 403
