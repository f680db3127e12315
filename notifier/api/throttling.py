"""Sending is rate-limited per caller: per API key, and per user for staff who send by hand.

The count is a fixed one-minute window in Redis, incremented atomically (`rate_limit_hit`); DRF's own
throttles read, then write, a cache entry and let bursts through (drf#8127). A Redis outage does not
stop sending: the limit fails open, and says so in the log.
"""

import logging
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from notifier.api.permissions import is_service
from notifier.api.ratelimit import rate_limit_hit
from notifier.cache import CACHE_ERRORS

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


def send_rate_key(request: Request) -> str | None:
    """What a send is counted against: the API key, or the (staff) user; None for anyone else."""
    if is_service(request):
        return f"send:key:{request.auth.prefix}"  # type: ignore[union-attr]
    if request.user and request.user.is_authenticated:
        return f"send:user:{request.user.pk}"
    return None


def send_rate_retry_after(request: Request, *, amount: int) -> int | None:
    """Counts `amount` sends against the caller's limit; None when they are allowed, else the seconds
    until the window ends."""
    limit = settings.NOTIFICATION_RATE_LIMIT_PER_MINUTE
    key = send_rate_key(request)
    if limit <= 0 or key is None:
        return None
    try:
        result = rate_limit_hit(key=key, limit=limit, window_seconds=WINDOW_SECONDS, amount=amount)
    except CACHE_ERRORS as exc:
        logger.warning("send rate limit unavailable; allowing the request", extra={"error": repr(exc)})
        return None
    return None if result.allowed else result.retry_after


class NotificationSendThrottle(BaseThrottle):
    """At most NOTIFICATION_RATE_LIMIT_PER_MINUTE sends per caller per minute (0: no limit).

    Only unsafe methods count, so a view serving GET and POST can list it for both. DRF checks
    throttles after authentication and permissions and before the body is read: a refused request
    costs a Redis round trip and writes nothing.
    """

    def __init__(self) -> None:
        self.retry_after: int | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        self.retry_after = send_rate_retry_after(request, amount=1)
        return self.retry_after is None

    def wait(self) -> float | None:
        return self.retry_after
