"""Request plumbing: the correlation id, the body size limit, and both spellings of every API route."""

from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as session_middleware
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, get_resolver

from notifier.api.bulk_routes import is_bulk_route
from notifier.api.renderers import envelope
from notifier.logging import correlation_id_from, correlation_id_set

CORRELATION_HEADER = "X-Correlation-ID"


class CorrelationIdMiddleware:
    """Takes `X-Correlation-ID` from the request or makes one, binds it to logs, returns it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        correlation_id = correlation_id_from(request.headers.get(CORRELATION_HEADER))
        request.correlation_id = correlation_id  # type: ignore[attr-defined]
        # Left bound after the response so Django's own request log lines carry it too; the next
        # request on this thread binds its own before anything logs.
        correlation_id_set(correlation_id)
        response = self.get_response(request)
        response[CORRELATION_HEADER] = correlation_id
        return response


def body_limit_for(path: str) -> int:
    return settings.API_BATCH_MAX_BODY_BYTES if is_bulk_route(path) else settings.API_MAX_BODY_BYTES


class RequestSizeLimitMiddleware:
    """Refuses bodies over API_MAX_BODY_BYTES (API_BATCH_MAX_BODY_BYTES on the bulk routes) with 413
    before anything reads them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # A chunked body would be read as empty ("field required"): say what is wrong instead.
            return _refusal(
                status=411,
                error="length_required",
                message="Send the body with a Content-Length; chunked request bodies are not accepted.",
            )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        limit = body_limit_for(request.path)
        if length < 0 or length > limit:
            return _refusal(
                status=413 if length > 0 else 400,
                error="payload_too_large" if length > 0 else "invalid_content_length",
                message=f"Request bodies are limited to {limit} bytes.",
            )
        return self.get_response(request)


def _refusal(*, status: int, error: str, message: str) -> JsonResponse:
    """An answer given before the rest of the middleware runs, so it sets its own Content-Length (the
    server then needs no chunked encoding, and closes the connection: see notifier.gunicorn_conf)."""
    response = JsonResponse(envelope(success=False, error=error, message=message), status=status)
    response["Content-Length"] = str(len(response.content))
    return response


class ApiSlashMiddleware:
    """Every API route answers with and without its trailing slash.

    Django's APPEND_SLASH answers a 301, which HTTP clients follow with a GET, so a POST to
    `/api/v1/notifications` would silently become a list request. Under /api/ the other spelling is
    served directly when only it names a route.
    """

    PREFIX = "/api/"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(self.PREFIX) and not _routes(path):
            other = path[:-1] if path.endswith("/") else path + "/"
            if _routes(other):
                request.path_info = other
        return self.get_response(request)


@lru_cache(maxsize=4096)
def _routes(path: str) -> bool:
    """Whether a route matches `path`; the routes are fixed for the life of the process, so the answer
    is kept (the hot paths, such as the send's, are resolved once, not twice per request)."""
    try:
        get_resolver().resolve(path)
    except Resolver404:
        return False
    return True


# Django's session, authentication and messages middleware serve the admin (and Django's own pages).
# API routes authenticate by API key or JWT on every request and keep no session: these subclasses pass
# API requests straight through (subclasses, so that the admin's system checks still find the
# middleware they need). CSRF's middleware stays as Django ships it: API views are exempt from it.
API_PREFIX = "/api/"


class _OutsideApi:
    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)  # type: ignore[attr-defined,no-any-return]
        return super().__call__(request)  # type: ignore[misc,no-any-return]


class SessionMiddleware(_OutsideApi, session_middleware.SessionMiddleware):
    pass


class AuthenticationMiddleware(_OutsideApi, auth_middleware.AuthenticationMiddleware):
    pass


class MessageMiddleware(_OutsideApi, messages_middleware.MessageMiddleware):
    pass
