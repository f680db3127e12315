"""Request plumbing: the correlation id and the body size limit."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

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


class RequestSizeLimitMiddleware:
    """Refuses bodies over API_MAX_BODY_BYTES with 413 before anything reads them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > settings.API_MAX_BODY_BYTES:
            return JsonResponse(
                envelope(
                    success=False,
                    error="payload_too_large" if length > 0 else "invalid_content_length",
                    message=f"Request bodies are limited to {settings.API_MAX_BODY_BYTES} bytes.",
                ),
                status=413 if length > 0 else 400,
            )
        return self.get_response(request)
