"""Redis: the cache, idempotency fast paths, rate-limit counters and circuit-breaker state."""

from notifier.settings.env import env

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "notifier",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=1.0),
            "SOCKET_TIMEOUT": env.float("REDIS_SOCKET_TIMEOUT", default=1.0),
        },
    }
}

# How long a user's delivery profile (email, name, preferences) stays cached; changes invalidate it.
USER_PROFILE_CACHE_SECONDS = env.int("USER_PROFILE_CACHE_SECONDS", default=300)
