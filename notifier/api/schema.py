"""Describes the envelope in the OpenAPI schema: every body is `{success, data, error, message, meta}`."""

from http import HTTPStatus
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from notifier.api.error_codes import ERROR_CODES
from notifier.api.examples import PATH_EXAMPLES
from notifier.api.renderers import envelope

PAGINATION_META = {
    "type": "object",
    "properties": {
        "total": {"type": "integer"},
        "limit": {"type": "integer"},
        "page": {"type": "integer"},
        "total_pages": {"type": "integer"},
        "has_next": {"type": "boolean"},
        "has_previous": {"type": "boolean"},
    },
    "required": ["total", "limit", "page", "total_pages", "has_next", "has_previous"],
}

ERROR_ENVELOPE = {
    "type": "object",
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "data": {"nullable": True},
        "error": {"$ref": "#/components/schemas/ErrorCode"},
        "message": {"type": "string"},
        "meta": {"nullable": True},
    },
    "required": ["success", "data", "error", "message", "meta"],
}


def _success_envelope(data_schema: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    is_list = data_schema.get("type") == "array"
    if meta is None:
        meta = PAGINATION_META if is_list else {"nullable": True}
    return {
        "type": "object",
        "properties": {
            "success": {"type": "boolean", "enum": [True]},
            "data": data_schema,
            "error": {"type": "string", "nullable": True},
            "message": {"type": "string"},
            "meta": meta,
        },
        "required": ["success", "data", "error", "message", "meta"],
    }


# Every response carries the request's correlation id (CorrelationIdMiddleware).
CORRELATION_HEADER = {
    "X-Correlation-ID": {
        "description": "The request's correlation id: the caller's `X-Correlation-ID` if well-formed, else a "
        "generated one. Stamped on every log line and on the notification.",
        "required": True,
        "schema": {"type": "string"},
    }
}
RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}

# The error codes an operation answers because of its shape; the rest it declares with `error_codes()`.
ANY_OPERATION_CODES = ("not_acceptable",)
AUTHENTICATED_CODES = (
    "not_authenticated",
    "authentication_failed",
    "permission_denied",
    "service_unavailable",
)
BODY_CODES = (
    "validation_error", "parse_error", "invalid", "invalid_content_length", "length_required",
    "payload_too_large", "unsupported_media_type",
)  # fmt: skip
QUERY_CODES = ("validation_error", "invalid")
PATH_CODES = ("not_found",)
PAGE_CODES = ("not_found",)  # a page past the last one
# Pagination parameters are whole numbers from 1 (`limit` above PAGINATION_MAX_LIMIT is capped).
PAGE_PARAMETERS = ("page", "limit")


def error_codes(*codes: str) -> dict[str, list[str]]:
    """`extend_schema(extensions=error_codes(...))`: the error codes an operation answers beyond those its
    shape implies (authentication, a body, query or path parameters). Each must be in ERROR_CODES."""
    unknown = [code for code in codes if code not in ERROR_CODES]
    if unknown:
        raise ImproperlyConfigured(f"unknown error codes {unknown}: add them to notifier/api/error_codes.py")
    return {"x-error-codes": list(codes)}


def _requires_auth(operation: dict[str, Any]) -> bool:
    return any(requirement for requirement in operation.get("security") or [])


def _operation_codes(operation: dict[str, Any]) -> set[str]:
    codes = {*ANY_OPERATION_CODES, *operation.pop("x-error-codes", [])}
    if _requires_auth(operation):
        codes.update(AUTHENTICATED_CODES)
    if "requestBody" in operation:
        codes.update(BODY_CODES)
    places = {parameter.get("in") for parameter in operation.get("parameters", [])}
    if "query" in places:
        codes.update(QUERY_CODES)
    if "path" in places:
        codes.update(PATH_CODES)
    if any(p.get("in") == "query" and p.get("name") == "page" for p in operation.get("parameters", [])):
        codes.update(PAGE_CODES)
    return codes


def _error_responses(operation: dict[str, Any], codes: set[str]) -> dict[str, Any]:
    """One response per status the codes have: its codes as an enum, and an example of each."""
    by_status: dict[str, list[str]] = {}
    for code in sorted(codes):
        by_status.setdefault(str(ERROR_CODES[code].status), []).append(code)
    declared = {str(status) for status in operation["responses"] if str(status).startswith(("4", "5"))}
    if declared - by_status.keys():
        raise ImproperlyConfigured(
            f"{operation.get('operationId')}: no error code for status {sorted(declared - by_status.keys())}"
        )
    responses = {}
    for status, status_codes in by_status.items():
        meanings = "; ".join(f"`{code}`: {ERROR_CODES[code].meaning}" for code in status_codes)
        own = operation["responses"].get(status, {}).get("description")
        responses[status] = {
            "description": f"{own}. {meanings}" if own else meanings,
            "content": {
                "application/json": {
                    "schema": {
                        "allOf": [
                            {"$ref": "#/components/schemas/ErrorEnvelope"},
                            {
                                "type": "object",
                                "properties": {"error": {"type": "string", "enum": status_codes}},
                            },
                        ]
                    },
                    "examples": {
                        code: {
                            "summary": ERROR_CODES[code].meaning,
                            "value": envelope(
                                success=False, error=code, message=ERROR_CODES[code].example_message
                            ),
                        }
                        for code in status_codes
                    },
                }
            },
        }
    return responses


def _success_examples(content: dict[str, Any], status: str, meta: dict[str, Any] | None) -> None:
    """The views' success examples show `data`; the answer is that inside the envelope."""
    for example in content.get("examples", {}).values():
        data = example.get("value")
        if isinstance(data, dict) and "success" in data:
            continue
        page_meta = None
        if isinstance(data, list) and meta is None:
            page_meta = {"total": len(data), "limit": 20, "page": 1, "total_pages": 1, "has_next": False,
                         "has_previous": False}  # fmt: skip
        example["value"] = envelope(
            success=True, data=data, message=HTTPStatus(int(status)).phrase, meta=page_meta
        )


def _codes_table() -> str:
    rows = "\n".join(
        f"| `{error.code}` | {error.status} | {error.meaning} |" for error in ERROR_CODES.values()
    )
    return (
        "\n\n## Error codes\n\nA refused request answers `success: false` and one of these in `error`; each "
        "operation lists the codes it answers. The last three are answered outside any operation.\n\n"
        f"| code | status | meaning |\n|---|---|---|\n{rows}\n"
    )


def envelope_postprocessing_hook(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorEnvelope"] = ERROR_ENVELOPE
    schemas["ErrorCode"] = {"type": "string", "enum": list(ERROR_CODES)}
    result["info"]["description"] = result["info"].get("description", "") + _codes_table()
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            # An operation whose list answer is not paginated says what its meta is instead.
            meta = operation.pop("x-envelope-meta", None)
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and parameter.get("name") in PAGE_PARAMETERS:
                    parameter["schema"] = {"type": "integer", "minimum": 1}
                if parameter.get("in") == "path" and parameter.get("name") in PATH_EXAMPLES:
                    parameter["example"] = PATH_EXAMPLES[parameter["name"]]
            errors = _error_responses(operation, _operation_codes(operation))
            responses = {
                code: response
                for code, response in operation["responses"].items()
                if not str(code).startswith(("4", "5"))
            }
            for code, response in responses.items():
                content = response.get("content", {}).get("application/json")
                if content is not None:
                    _success_examples(content, str(code), meta)
                    content["schema"] = _success_envelope(content.get("schema", {}), meta)
            responses.update(errors)
            for code, response in responses.items():
                headers = response.setdefault("headers", {})
                headers.update(CORRELATION_HEADER)
                if str(code) == "429":
                    headers.update(RETRY_AFTER_HEADER)
            operation["responses"] = responses
    return result


# The envelope renderer cannot wrap a 204, so a deletion answers 200 with `data: null`.
DELETED_RESPONSE = OpenApiResponse(
    response={"nullable": True, "description": "Always null."},
    description="Deleted; `data` is null.",
    examples=[OpenApiExample("Deleted", value=None, response_only=True, status_codes=["200"])],
)


class DeleteWithBodySchema(AutoSchema):
    """For a view whose DELETE takes a JSON body (a bulk removal): drf-spectacular documents bodies for
    PUT, PATCH and POST only, so Swagger UI could not send it."""

    def _get_request_body(self, direction: str = "request") -> Any:
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"
