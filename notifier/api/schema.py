"""Describes the envelope in the OpenAPI schema: every body is `{success, data, error, message, meta}`."""

from typing import Any

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


def _success_envelope(data_schema: dict[str, Any]) -> dict[str, Any]:
    is_list = data_schema.get("type") == "array"
    return {
        "type": "object",
        "properties": {
            "success": {"type": "boolean", "enum": [True]},
            "data": data_schema,
            "error": {"type": "string", "nullable": True},
            "message": {"type": "string"},
            "meta": PAGINATION_META if is_list else {"nullable": True},
        },
        "required": ["success", "data", "error", "message", "meta"],
    }


def envelope_postprocessing_hook(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorEnvelope"] = ERROR_ENVELOPE
    error_ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, response in operation["responses"].items():
                content = response.get("content", {}).get("application/json")
                if content is None:
                    continue
                if str(code).startswith(("4", "5")):
                    content["schema"] = error_ref
                else:
                    content["schema"] = _success_envelope(content.get("schema", {}))
            for code, description in (
                ("400", "Invalid input"),
                ("401", "Not authenticated"),
                ("403", "Not allowed"),
                ("404", "Not found"),
                ("413", "Body too large"),
                ("429", "Rate limited"),
                ("503", "A dependency is unavailable"),
            ):
                operation["responses"].setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": error_ref}}}
                )
    return result
