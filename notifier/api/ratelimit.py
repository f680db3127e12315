"""Fixed-window rate limits counted atomically in Redis (DRF's throttles are not atomic)."""

from dataclasses import dataclass

from django_redis import get_redis_connection


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    count: int
    retry_after: int


def rate_limit_hit(*, key: str, limit: int, window_seconds: int, amount: int = 1) -> RateLimitResult:
    """Counts `amount` hits against `key`; the first hit of a window starts its expiry."""
    redis = get_redis_connection("default")
    full_key = f"notifier:ratelimit:{key}"
    pipe = redis.pipeline()
    pipe.incrby(full_key, amount)
    pipe.expire(full_key, window_seconds, nx=True)
    pipe.ttl(full_key)
    count, _, ttl = pipe.execute()
    return RateLimitResult(allowed=count <= limit, count=int(count), retry_after=max(int(ttl), 1))


def rate_limit_reset(*, key: str) -> None:
    get_redis_connection("default").delete(f"notifier:ratelimit:{key}")
