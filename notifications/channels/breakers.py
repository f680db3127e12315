"""Circuit breakers around the providers; their state lives in Redis, shared by every worker process."""

from datetime import UTC, datetime, timedelta
from functools import cache

import pybreaker
from django.conf import settings
from django_redis import get_redis_connection

from notifications.channels.base import PermanentDeliveryError


@cache
def _storage(name: str) -> pybreaker.CircuitRedisStorage:
    return pybreaker.CircuitRedisStorage(
        pybreaker.STATE_CLOSED, get_redis_connection("default"), namespace=f"notifier:breaker:{name}"
    )


@cache
def breaker_get(name: str) -> pybreaker.CircuitBreaker:
    """One breaker per provider kind. Permanent errors (a refused recipient) do not count against it."""
    return pybreaker.CircuitBreaker(
        fail_max=settings.BREAKER_FAIL_MAX,
        reset_timeout=settings.BREAKER_RESET_SECONDS,
        exclude=[PermanentDeliveryError],
        state_storage=_storage(name),
        name=name,
    )


def breaker_open_remaining(name: str) -> float:
    """Seconds until an open breaker lets a trial call through; 0 when calls may be made now.

    pybreaker moves an open breaker to half-open only inside `call()`, once the reset timeout has
    passed; until then a call would be refused without reaching the provider.
    """
    storage = _storage(name)
    if storage.state != pybreaker.STATE_OPEN:
        return 0.0
    opened_at = storage.opened_at
    if opened_at is None:
        return 0.0
    reopen_at = opened_at + timedelta(seconds=settings.BREAKER_RESET_SECONDS)
    return max((reopen_at - datetime.now(UTC)).total_seconds(), 0.0)


def breaker_state(name: str) -> str:
    return str(breaker_get(name).current_state)
