"""Bounds for free-form JSON objects in requests: an object, limited in size and depth, storable."""

import json
from typing import Any

from rest_framework import serializers


def json_problem(value: Any, *, max_depth: int) -> str | None:
    """Why `value` cannot be accepted, or None: nesting depth, or NUL characters (PostgreSQL refuses them).

    Walks iteratively, so a deeply nested document cannot exhaust the stack.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > max_depth:
                return f"Nested deeper than {max_depth} levels."
            if isinstance(item, dict) and any("\x00" in key for key in item):
                return "Null characters are not allowed."
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str) and "\x00" in item:
            return "Null characters are not allowed."
    return None


class JSONObjectField(serializers.DictField):
    """A JSON object of at most `max_bytes` (UTF-8, compact) and `max_depth` levels."""

    def __init__(self, *, max_bytes: int = 32 * 1024, max_depth: int = 10, **kwargs: Any) -> None:
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Expected a JSON object.")
        problem = json_problem(data, max_depth=self.max_depth)
        if problem:
            raise serializers.ValidationError(problem)
        size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
        if size > self.max_bytes:
            raise serializers.ValidationError(f"At most {self.max_bytes} bytes of JSON.")
        return data


def query_params_of(request: Any) -> dict[str, str]:
    """The query string as a plain dict (the last value of a repeated key).

    DRF reads a QueryDict as HTML form input, where an empty optional value counts as absent; read as
    plain data, `?code=` is validated as the empty value it is (a 400), as the schema says.
    """
    return {key: request.query_params[key] for key in request.query_params}


def validated_body(serializer_class: type[serializers.Serializer], request: Any, **kwargs: Any) -> Any:
    """The request body validated by `serializer_class` (a 400 with the field errors otherwise)."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class StrictBooleanField(serializers.BooleanField):
    """Only JSON `true`/`false`; DRF's BooleanField would also take "yes", "0", 1..."""

    default_error_messages = {"invalid": "Must be a boolean (true or false)."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data
