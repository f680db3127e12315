"""Email and push providers. Unset provider settings select the embedded file outboxes under var/."""

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from notifier.settings.env import BASE_DIR, env

SMTP_HOST = env.str("SMTP_HOST", default="")
SMTP_PORT = env.int("SMTP_PORT", default=587)
SMTP_USER = env.str("SMTP_USER", default="")
SMTP_PASS = env.str("SMTP_PASS", default="")
SMTP_USE_TLS = env.bool("SMTP_USE_TLS", default=False)
SMTP_USE_SSL = env.bool("SMTP_USE_SSL", default=False)
# Connections each email worker process keeps open to SMTP_HOST; messages go out over them at once.
SMTP_CONNECTIONS = env.int("SMTP_CONNECTIONS", default=1)
SMTP_TIMEOUT_SECONDS = env.float("SMTP_TIMEOUT_SECONDS", default=10.0)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="notifier <no-reply@notifier.local>")

EMAIL_HOST = SMTP_HOST
EMAIL_PORT = SMTP_PORT
EMAIL_HOST_USER = SMTP_USER
EMAIL_HOST_PASSWORD = SMTP_PASS
EMAIL_USE_TLS = SMTP_USE_TLS
EMAIL_USE_SSL = SMTP_USE_SSL
EMAIL_TIMEOUT = SMTP_TIMEOUT_SECONDS
# EMAIL_BACKEND may name any Django email backend, such as an anymail provider's
# (anymail.backends.sendgrid.EmailBackend) configured through ANYMAIL_* variables; the
# DjangoMailProvider delivers through it (and Django's own mail uses it).
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default=(
        "django.core.mail.backends.smtp.EmailBackend"
        if SMTP_HOST
        else "notifications.providers.mail_outbox.FileOutboxBackend"
    ),
)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
ANYMAIL = env.json("ANYMAIL", default={})

FIREBASE_CREDENTIALS = env.str("FIREBASE_CREDENTIALS", default=str(BASE_DIR / "serviceAccountKey.json"))
FCM_ENDPOINT = env.str("FCM_ENDPOINT", default="https://fcm.googleapis.com")
FCM_TIMEOUT_SECONDS = env.float("FCM_TIMEOUT_SECONDS", default=10.0)
PUSH_FILE_PATH = env.str("PUSH_FILE_PATH", default=str(BASE_DIR / "var" / "push"))

DEFAULT_LANGUAGE = env.str("DEFAULT_LANGUAGE", default="en")


def _provider_list(raw: str) -> list[Any]:
    """A provider list from the environment: import strings separated by commas, or a JSON array whose
    entries are import strings or {"class", "name", "options"} objects (see providers/registry.py)."""
    raw = raw.strip()
    if raw.startswith("["):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ImproperlyConfigured(f"a provider list in JSON is not valid JSON: {exc}") from exc
        if not isinstance(value, list):
            raise ImproperlyConfigured("a provider list in JSON must be an array")
        return value
    return [item.strip() for item in raw.split(",") if item.strip()]


# The providers of each channel, in order of preference; each has a circuit breaker of its own. A
# notification goes to the first whose breaker is closed, and a failure of that provider (not of the
# recipient) is tried on the next one at once. Email: SMTP when SMTP_HOST is set, else EMAIL_BACKEND's (an
# anymail provider, or the file outbox under var/mail). Push: "auto" is Firebase when FIREBASE_CREDENTIALS
# exists, else the dry-run file outbox under var/push.
EMAIL_PROVIDERS = _provider_list(
    env.str(
        "EMAIL_PROVIDERS",
        default=(
            "notifications.providers.smtp.SmtpProvider"
            if SMTP_HOST and "EMAIL_BACKEND" not in env.ENVIRON
            else "notifications.providers.django_mail.DjangoMailProvider"
        ),
    )
)
# "auto": Firebase when its credentials file exists, else the dry-run file outbox; "webpush": browsers'
# subscriptions through Web Push. Each device goes to the first provider that delivers its kind.
PUSH_PROVIDERS = _provider_list(
    env.str("PUSH_PROVIDERS", default=env.str("PUSH_PROVIDER", default="auto") + ",webpush")
)

# Templates: sections nested deeper than this are refused when a template is saved (400), and each
# rendered part is bounded in characters (rendering stops as soon as one is crossed; a notification whose
# rendering crosses one ends failed with that reason). A push must fit FCM's 4 KB payload.
TEMPLATE_MAX_NESTING_DEPTH = env.int("TEMPLATE_MAX_NESTING_DEPTH", default=10)
RENDER_MAX_EMAIL_SUBJECT_CHARS = env.int("RENDER_MAX_EMAIL_SUBJECT_CHARS", default=998)
RENDER_MAX_EMAIL_BODY_CHARS = env.int("RENDER_MAX_EMAIL_BODY_CHARS", default=2_000_000)
RENDER_MAX_PUSH_TITLE_CHARS = env.int("RENDER_MAX_PUSH_TITLE_CHARS", default=250)
RENDER_MAX_PUSH_BODY_CHARS = env.int("RENDER_MAX_PUSH_BODY_CHARS", default=2_000)
RENDER_MAX_URL_CHARS = env.int("RENDER_MAX_URL_CHARS", default=1_000)
TEMPLATE_RENDER_LIMITS = {
    "email": {
        "subject": RENDER_MAX_EMAIL_SUBJECT_CHARS,
        "body": RENDER_MAX_EMAIL_BODY_CHARS,
        "html_body": RENDER_MAX_EMAIL_BODY_CHARS,
    },
    "push": {
        "subject": RENDER_MAX_PUSH_TITLE_CHARS,
        "body": RENDER_MAX_PUSH_BODY_CHARS,
        "image_url": RENDER_MAX_URL_CHARS,
        "link": RENDER_MAX_URL_CHARS,
    },
}

# Retention: notifications that ended (and their attempts), webhook events that ended, and finished
# broadcasts older than this many days are pruned by `manage.py prune`, in batches of
# RETENTION_BATCH_SIZE rows, each its own short transaction. 0 keeps everything.
RETENTION_DAYS = env.int("RETENTION_DAYS", default=30)
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=2000)
