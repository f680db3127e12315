"""Describes the envelope in the OpenAPI schema: every body is `{success, data, error, message, meta}`."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse

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
        "error": {"type": "string"},
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

# Errors any operation can answer, by who can meet them: everyone, authenticated operations, bodies.
# Rate-limited operations document their 429 themselves; every error body is the error envelope.
COMMON_ERRORS = (
    ("400", "Invalid input"),
    ("404", "Not found"),
    ("406", "The Accept header asks for something other than JSON"),
    ("503", "A dependency is unavailable"),
)
AUTH_ERRORS = (("401", "Not authenticated"), ("403", "Not allowed"))
BODY_ERRORS = (("413", "Body larger than API_MAX_BODY_BYTES"), ("415", "Body not JSON"))
# Pagination parameters are whole numbers from 1 (`limit` above PAGINATION_MAX_LIMIT is capped).
PAGE_PARAMETERS = ("page", "limit")


def _requires_auth(operation: dict[str, Any]) -> bool:
    return any(requirement for requirement in operation.get("security") or [])


def envelope_postprocessing_hook(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorEnvelope"] = ERROR_ENVELOPE
    error_ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            # An operation whose list answer is not paginated says what its meta is instead.
            meta = operation.pop("x-envelope-meta", None)
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and parameter.get("name") in PAGE_PARAMETERS:
                    parameter["schema"] = {"type": "integer", "minimum": 1}
            errors = list(COMMON_ERRORS)
            if _requires_auth(operation):
                errors += AUTH_ERRORS
            if "requestBody" in operation:
                errors += BODY_ERRORS
            for code, description in errors:
                operation["responses"].setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": error_ref}}}
                )
            for code, response in operation["responses"].items():
                if str(code).startswith(("4", "5")):
                    response["content"] = {"application/json": {"schema": error_ref}}
                else:
                    content = response.get("content", {}).get("application/json")
                    if content is not None:
                        content["schema"] = _success_envelope(content.get("schema", {}), meta)
                headers = response.setdefault("headers", {})
                headers.update(CORRELATION_HEADER)
                if str(code) == "429":
                    headers.update(RETRY_AFTER_HEADER)
    return result


# The envelope renderer cannot wrap a 204, so a deletion answers 200 with `data: null`.
DELETED_RESPONSE = OpenApiResponse(
    response={"nullable": True, "description": "Always null."}, description="Deleted; `data` is null."
)
