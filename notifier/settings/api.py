"""The REST API: envelope, authentication (JWT for users, API keys for services), limits, OpenAPI."""

from datetime import timedelta

from notifier.settings.env import env
from notifier.settings.secret_keys import JWT_SECRET_DEVELOPMENT_DEFAULT

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "notifier.api.authentication.APIKeyAuthentication",
        "notifier.api.authentication.UserJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["notifier.api.permissions.IsServiceOrStaff"],
    "DEFAULT_RENDERER_CLASSES": ["notifier.api.renderers.EnvelopeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["notifier.api.parsers.BoundedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "notifier.api.pagination.EnvelopePagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "notifier.api.exceptions.envelope_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "PAGE_SIZE": 20,
}

PAGINATION_MAX_LIMIT = env.int("PAGINATION_MAX_LIMIT", default=100)
# Bodies larger than this are refused with 413 before any parsing.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=256 * 1024)
# The bulk routes (the batch send, a send to up to 10,000 user_ids, a topic's subscribers: see
# notifier.api.bulk_routes) may carry larger bodies.
API_BATCH_MAX_BODY_BYTES = env.int("API_BATCH_MAX_BODY_BYTES", default=4 * 1024 * 1024)
NOTIFICATION_BATCH_MAX = env.int("NOTIFICATION_BATCH_MAX", default=1000)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(API_MAX_BODY_BYTES, API_BATCH_MAX_BODY_BYTES)

API_KEY_CUSTOM_HEADER = "HTTP_X_API_KEY"
# A verified key is trusted this long per process without a query; revocation takes effect within it.
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=5.0)
# Called with the key's id when a process verifies a key against the database (its "last used"): an
# import string, so the API plumbing imports no app.
API_KEY_USED_HOOK = "users.services.api_key_used"

# The development default serves DEBUG only: without DEBUG, settings refuse it (settings.secret_keys).
# `manage.py check --deploy` flags it too (notifier.W001).
JWT_SECRET = env.str("JWT_SECRET", default=JWT_SECRET_DEVELOPMENT_DEFAULT)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_TTL_SECONDS", default=15 * 60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_REFRESH_TTL_SECONDS", default=7 * 24 * 3600)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SECRET,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
    # Every token carries a digest of the user's password hash, checked on each request: a password
    # change refuses every token issued before it at once (access tokens too, not only refresh).
    "CHECK_REVOKE_TOKEN": True,
    "REVOKE_TOKEN_CLAIM": "hash_password",
}

# Login attempts per window, counted atomically in Redis, per account and per client address.
LOGIN_RATE_LIMIT_PER_ACCOUNT = env.int("LOGIN_RATE_LIMIT_PER_ACCOUNT", default=5)
LOGIN_RATE_LIMIT_PER_ADDRESS = env.int("LOGIN_RATE_LIMIT_PER_ADDRESS", default=20)
LOGIN_RATE_LIMIT_WINDOW_SECONDS = env.int("LOGIN_RATE_LIMIT_WINDOW_SECONDS", default=300)
# Sends (POST /api/v1/notifications/) per API key, or per staff user, per minute; 0 disables the limit.
NOTIFICATION_RATE_LIMIT_PER_MINUTE = env.int("NOTIFICATION_RATE_LIMIT_PER_MINUTE", default=6000)

SPECTACULAR_SETTINGS = {
    "TITLE": "notifier API",
    "DESCRIPTION": (
        "Self-hosted notification delivery: accept a notification at once, deliver it by email or push "
        "through worker pools on RabbitMQ. Every response is the envelope "
        "`{success, data, error, message, meta}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "NotificationStatusEnum": "notifications.models.NotificationStatus.choices",
        "ProviderReportedStatusEnum": ["delivered", "failed"],
        "BroadcastStatusEnum": "notifications.models.BroadcastStatus.choices",
        "WebhookEventTypeEnum": "notifications.models.WebhookEventType.choices",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "notifier.api.schema.envelope_postprocessing_hook",
    ],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
    },
}

# Topics and broadcasts: user ids per subscribers call and per list send (`user_ids`).
TOPIC_SUBSCRIBERS_MAX_PER_CALL = env.int("TOPIC_SUBSCRIBERS_MAX_PER_CALL", default=10_000)
BROADCAST_USER_IDS_MAX = env.int("BROADCAST_USER_IDS_MAX", default=10_000)
