"""Django core: apps, middleware, database, auth, static files."""

from notifier.settings.env import BASE_DIR, env
from notifier.settings.secret_keys import DJANGO_SECRET_KEY_DEVELOPMENT_DEFAULT

DEBUG = env.bool("DEBUG", default=False)
# The development default serves DEBUG only: without DEBUG, settings refuse it (settings.secret_keys).
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DJANGO_SECRET_KEY_DEVELOPMENT_DEFAULT)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "rangefilter",
    "users",
    "templates_app",
    "notifications",
]

MIDDLEWARE = [
    # First, so that every answer is counted and timed, including those of the middleware below.
    "notifier.metrics.RequestMetricsMiddleware",
    "notifier.api.middleware.CorrelationIdMiddleware",
    "notifier.api.middleware.RequestSizeLimitMiddleware",
    "notifier.api.middleware.ApiSlashMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Session, authentication and messages: Django's own, passed through on API routes
    # (notifier.api.middleware). CSRF stays Django's: `check --deploy` looks for it by name, and API
    # views are exempt from it anyway.
    "notifier.api.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "notifier.api.middleware.AuthenticationMiddleware",
    "notifier.api.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "notifier.urls"
WSGI_APPLICATION = "notifier.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://127.0.0.1:5432/notifier"),
}
DATABASES["default"].setdefault("OPTIONS", {})
# A database that is down must make the API answer 503 quickly, not hang a worker thread.
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=3))
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Behind PgBouncer in transaction pooling (the API and the relay may be; README "PostgreSQL at scale"), a
# server-side cursor would outlive the transaction its server session was lent for.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
    "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "users.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# Times in the admin in one format (notifier/formats/en/formats.py), whatever the locale's own.
FORMAT_MODULE_PATH = ["notifier.formats"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # The manifest storage needs `collectstatic` (which `make run` does); the test suite, which renders
    # pages without collecting, sets the plain storage through this variable.
    "staticfiles": {
        "BACKEND": env.str(
            "STATIC_FILES_STORAGE", default="whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env.bool(
    "SESSION_COOKIE_SECURE", default=not DEBUG and env.bool("HTTPS", default=False)
)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
# Only when every subdomain is served over HTTPS too (`check --deploy` asks for both: W005, W021).
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)

# The port the API listens on (gunicorn reads PORT too); used in printed links.
PORT = env.int("PORT", default=8000)
