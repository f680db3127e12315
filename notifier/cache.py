"""The errors a Redis outage produces, for every fallback that carries on without Redis: the cache API
re-raises the underlying RedisError, while django-redis's client layer raises ConnectionInterrupted."""

from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

CACHE_ERRORS: tuple[type[Exception], ...] = (ConnectionInterrupted, RedisError)
