"""Maps every failure to the envelope with a machine-readable `error` code and field errors in `data`."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from notifier.api.errors import ApplicationError
from notifier.api.renderers import envelope

logger = logging.getLogger(__name__)

_CODES = {
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "parse_error",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


def error_response(
    *, code: str, message: str, http_status: int, data: Any = None, headers: dict[str, str] | None = None
) -> Response:
    response = Response(
        envelope(success=False, data=data, error=code, message=message), status=http_status, headers=headers
    )
    response.enveloped = True  # type: ignore[attr-defined]
    return response


def _message_of(detail: Any) -> str:
    """The first human message in a DRF error detail, however nested."""
    if isinstance(detail, dict):
        for value in detail.values():
            return _message_of(value)
    if isinstance(detail, list) and detail:
        return _message_of(detail[0])
    return str(detail)


def envelope_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return error_response(code=exc.code, message=exc.message, http_status=exc.status, data=exc.data)
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.error("database unavailable", extra={"error": str(exc)})
        return error_response(
            code="service_unavailable",
            message="The database is unavailable; try again shortly.",
            http_status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DatabaseError):
        # Raised for values PostgreSQL refuses that validation let through; the transaction rolled back.
        logger.warning("database refused a value", extra={"error": str(exc)})
        return error_response(
            code="invalid", message="The request holds a value that cannot be stored.", http_status=400
        )

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, Http404):
        code, message, data = "not_found", "Not found.", None
    elif isinstance(exc, DjangoPermissionDenied):
        code, message, data = "permission_denied", "You do not have permission to perform this action.", None
    elif isinstance(exc, exceptions.ValidationError):
        code, message = "validation_error", "Invalid input: " + _message_of(exc.detail)
        data = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    elif isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), exc.default_code)
        message, data = _message_of(exc.detail), None
    else:  # pragma: no cover - DRF only answers for the types above
        code, message, data = "error", str(exc), None
    headers = {k: v for k, v in response.headers.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")}
    return error_response(
        code=code, message=message, http_status=response.status_code, data=data, headers=headers
    )
