"""Circuit breakers, one per provider (named `<channel>.<provider>`, e.g. `email.smtp`); their state lives
in Redis, shared by every worker process."""

import time
from datetime import UTC, datetime, timedelta
from functools import cache

import pybreaker
from django.conf import settings
from django_redis import get_redis_connection

from notifications.providers.base import PermanentDeliveryError, RecipientDeferredError

# How long a process trusts the breaker state it last read from Redis. Every delivery consults the
# breaker several times; a change made by another process is seen within this delay.
STATE_CACHE_SECONDS = 0.5


class SharedCircuitStorage(pybreaker.CircuitRedisStorage):
    """pybreaker's Redis storage, with reads of the state cached briefly in the process, and the
    failure counter reset only when a failure may have set it (not on every success)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            pybreaker.STATE_CLOSED, get_redis_connection("default"), namespace=f"notifier:breaker:{name}"
        )
        self._cached_state: str | None = None
        self._cached_until = 0.0
        self._counter_dirty = True

    @property  # type: ignore[override]
    def state(self) -> str:
        now = time.monotonic()
        if self._cached_state is None or now >= self._cached_until:
            self._cached_state = super().state
            self._cached_until = now + STATE_CACHE_SECONDS
        return self._cached_state

    @state.setter
    def state(self, state: str) -> None:
        pybreaker.CircuitRedisStorage.state.fset(self, state)  # type: ignore[attr-defined]
        self._cached_state, self._cached_until = str(state), time.monotonic() + STATE_CACHE_SECONDS

    def increment_counter(self) -> None:
        self._counter_dirty = True
        super().increment_counter()

    def reset_counter(self) -> None:
        # pybreaker resets the shared failure counter after every success; the counter is almost always
        # 0 already, and the write would cost a round trip per delivery. So a process writes it after a
        # failure it counted itself, and otherwise at most once every STATE_CACHE_SECONDS: failures
        # counted by other processes are still cleared by a success within that delay.
        now = time.monotonic()
        if self._counter_dirty or now >= self._cached_until:
            super().reset_counter()
            self._counter_dirty = False


_storages: dict[str, SharedCircuitStorage] = {}


def _storage(name: str) -> SharedCircuitStorage:
    if name not in _storages:
        _storages[name] = SharedCircuitStorage(name)
    return _storages[name]


@cache
def breaker_get(name: str) -> pybreaker.CircuitBreaker:
    """One breaker per provider. Errors about one recipient (refused, or deferred) do not count
    against it: they say nothing about the provider's health."""
    return pybreaker.CircuitBreaker(
        fail_max=settings.BREAKER_FAIL_MAX,
        reset_timeout=settings.BREAKER_RESET_SECONDS,
        exclude=[PermanentDeliveryError, RecipientDeferredError],
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


def breaker_cached_states_forget() -> None:
    """Drops this process's cached breaker states (e.g. after Redis was flushed)."""
    for storage in _storages.values():
        storage._cached_state = None
        storage._counter_dirty = True
