"""The API contract (/api/schema/): every operation has a meaningful operationId, a description, examples
of its request and answers, and only the error statuses it can answer, each with its codes as an enum;
every error code the code can raise is in the catalog and in the schema; and Swagger UI's "Try it out"
works with the examples as they are on a freshly seeded system, each answer conforming to the schema."""

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from notifier.api.error_codes import ERROR_CODES, OUTSIDE_OPERATIONS

ROOT = Path(__file__).resolve().parents[2]
APPS = ("notifier", "users", "templates_app", "notifications")
METHODS = ("get", "post", "put", "patch", "delete")

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


def _operations() -> list[tuple[str, str, dict]]:
    return [
        (path, method, operation)
        for path, item in schema.raw_schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _content(response: dict) -> dict:
    return response.get("content", {}).get("application/json", {})


def test_every_operation_has_a_meaningful_unique_operation_id_and_a_description():
    operations = _operations()
    ids = [operation["operationId"] for _, _, operation in operations]

    assert len(ids) == len(set(ids)) == len(operations)
    # camelCase verbs: drf-spectacular's generated ids are snake_case paths (`templates_render_create`).
    assert [i for i in ids if not re.fullmatch(r"[a-z]+(?:[A-Z][a-z]*)+", i)] == []
    assert [op["operationId"] for _, _, op in operations if not op.get("description")] == []


def test_every_operation_has_examples_of_its_request_and_of_each_answer():
    missing = []
    for path, method, operation in _operations():
        if "requestBody" in operation and not _content(operation["requestBody"]).get("examples"):
            missing.append(f"{method} {path} request")
        for status, response in operation["responses"].items():
            if not _content(response).get("examples"):
                missing.append(f"{method} {path} {status}")

    assert missing == []


def test_every_error_answer_lists_its_codes_and_shows_each():
    for path, method, operation in _operations():
        for status, response in operation["responses"].items():
            if status < "400":
                continue
            content = _content(response)
            [_, narrowed] = content["schema"]["allOf"]
            codes = narrowed["properties"]["error"]["enum"]
            assert codes, f"{method} {path} {status}"
            assert {ERROR_CODES[code].status for code in codes} == {int(status)}
            assert set(content["examples"]) == set(codes)
            for code, example in content["examples"].items():
                assert example["value"]["error"] == code and example["value"]["success"] is False


def test_operations_answer_only_the_error_statuses_their_shape_and_their_own_codes_give():
    operations = {operation["operationId"]: operation for _, _, operation in _operations()}

    assert sorted(s for s in operations["getHealth"]["responses"] if s >= "400") == ["406"]
    assert sorted(s for s in operations["getReadiness"]["responses"] if s >= "400") == ["406", "503"]
    assert "429" not in operations["listUsers"]["responses"]
    assert "415" not in operations["getUser"]["responses"]
    assert sorted(s for s in operations["sendNotification"]["responses"] if s >= "400") == [
        "400", "401", "403", "406", "409", "411", "413", "415", "429", "503"
    ]  # fmt: skip


def _codes_raised_in_code() -> set[str]:
    """Every literal error code in the code: ApplicationError(code=...), error_response(code=...), and the
    envelopes answered before DRF (middleware, error views: `error=`)."""
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                keyword = {"ApplicationError": "code", "error_response": "code"}.get(name, "error")
                if name not in ("ApplicationError", "error_response", "envelope", "_refusal"):
                    continue
                for kw in node.keywords:
                    if kw.arg == keyword and isinstance(kw.value, ast.Constant) and kw.value.value:
                        found.add(kw.value.value)
    return found


def test_every_error_code_the_code_raises_is_in_the_catalog_and_the_schema():
    raised = _codes_raised_in_code()
    in_operations = {
        code
        for _, _, operation in _operations()
        for status, response in operation["responses"].items()
        if status >= "400"
        for code in _content(response)["schema"]["allOf"][1]["properties"]["error"]["enum"]
    }

    assert {"validation_error", "not_found", "idempotency_conflict", "payload_too_large"} <= raised
    assert raised - ERROR_CODES.keys() == set()
    assert set(ERROR_CODES) - OUTSIDE_OPERATIONS - in_operations == set()
    assert schema.raw_schema["components"]["schemas"]["ErrorCode"]["enum"] == list(ERROR_CODES)
    assert all(f"`{code}`" in schema.raw_schema["info"]["description"] for code in ERROR_CODES)


# "Try it out", as a new operator does it on a freshly seeded system: the request examples as they are,
# path parameters as pre-filled (demo data) or, for ids the API hands out, taken from an earlier answer.

NOT_TRIED = {
    "logIn": "the example password is not the demo recipient's (it is random)",
    "refreshToken": "needs a refresh token from a login",
    "reportEmailStatus": "needs a notification a provider has sent",
    "reportPushStatus": "needs a notification a provider has sent",
    "createWebhookEndpoint": "the example URL's host does not resolve on an offline machine",
}
# In the order an operator would try them: reads before the deletes at the end.
TRY_ORDER = [
    "getHealth", "getReadiness", "getVapidPublicKey",
    "listUsers", "createUser", "getUser", "updateUser", "getUserPreferences", "updateUserPreferences",
    "listUserDevices", "registerDevice", "listUserTopics",
    "listTemplates", "getTemplate", "listTemplateVersions", "renderTemplate", "createTemplateVersion",
    "activateTemplateVersion",
    "listTopics", "createTopic", "getTopic", "updateTopic", "listTopicSubscribers", "leaveTopic",
    "subscribeToTopic",
    "sendNotification", "sendNotifications", "listNotifications", "getNotification", "cancelNotification",
    "listBroadcasts", "getBroadcast", "cancelBroadcast",
    "listWebhookEndpoints", "getWebhookEndpoint", "updateWebhookEndpoint", "rotateWebhookSecret",
    "listWebhookEvents", "deleteWebhookEndpoint",
    "unsubscribeFromTopic", "removeDevice", "deleteTopic", "deleteUser",
]  # fmt: skip


def _success(operation: dict) -> tuple[int, dict | None]:
    """The status the answer example is shown under, and the request examples."""
    [status] = [
        s
        for s, r in operation["responses"].items()
        if s < "400" and set(_content(r).get("examples", {})) - {"Repeat"}
    ]
    return int(status), _content(operation.get("requestBody", {})).get("examples")


@pytest.mark.django_db(transaction=True)
def test_try_it_out_works_with_every_example_on_the_seeded_demo(broker):
    from notifications.services.demo import demo_seed
    from notifications.webhooks.endpoints import webhook_endpoint_create

    demo_seed()
    _, key = APIKey.objects.create_key(name="try-it-out")
    endpoint = webhook_endpoint_create(
        url="http://127.0.0.1:9/hooks", events=["notification.sent"], by="test"
    ).endpoint
    by_id = {operation["operationId"]: (path, method) for path, method, operation in _operations()}
    assert set(TRY_ORDER) | set(NOT_TRIED) == set(by_id)
    handed_out: dict[str, str] = {"endpoint_id": str(endpoint.id)}

    outcomes = {}
    for operation_id in TRY_ORDER:
        path, method = by_id[operation_id]
        api_operation = schema[path][method.upper()]
        raw = api_operation.definition.raw
        status, request_examples = _success(raw)
        path_parameters = {
            p["name"]: p.get("example", handed_out.get(p["name"]))
            for p in raw.get("parameters", [])
            if p["in"] == "path"
        }
        if operation_id == "cancelNotification":
            # Cancellable whatever the suite's workers do meanwhile: the example's send, scheduled.
            path_parameters["notification_id"] = handed_out["scheduled_notification_id"]
        body = next(iter(request_examples.values()))["value"] if request_examples else None
        case = api_operation.Case(
            path_parameters=path_parameters,
            body=body,
            headers={"X-API-Key": key},
            media_type="application/json",
        )
        response = case.call()
        case.validate_response(response)
        outcomes[operation_id] = response.status_code
        data = response.json()["data"]
        if operation_id == "sendNotification":
            handed_out["notification_id"] = data["notification_id"]
            broadcast_example = _content(raw["requestBody"])["examples"]["BroadcastToATopic"]["value"]
            later = (timezone.now() + timedelta(hours=1)).isoformat()
            scheduled = api_operation.Case(
                body={**body, "request_id": "scheduled-example", "send_at": later},
                headers={"X-API-Key": key},
                media_type="application/json",
            ).call()
            handed_out["scheduled_notification_id"] = scheduled.json()["data"]["notification_id"]
            broadcast = api_operation.Case(
                body=broadcast_example, headers={"X-API-Key": key}, media_type="application/json"
            ).call()
            handed_out["broadcast_id"] = broadcast.json()["data"]["broadcast_id"]
        assert response.status_code == status, (operation_id, response.json())

    assert len(outcomes) == len(TRY_ORDER)
