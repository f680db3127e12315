"""Status webhooks (the caller's endpoints) and Web Push: what outbound HTTP may reach, and its limits."""

from notifier.settings.env import env

# Outbound requests to callers' URLs never reach this machine's network: only https, and no loopback,
# private, link-local or other reserved address (checked at registration and again, pinned, at each send).
# Both are for tests and local trials only.
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=False)
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=3.0)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Bytes of a receiver's answer read (and kept in the attempt's record); the rest is dropped.
WEBHOOK_RESPONSE_MAX_BYTES = env.int("WEBHOOK_RESPONSE_MAX_BYTES", default=4096)
# An event is retried with exponential backoff and jitter, from WEBHOOK_RETRY_BASE_SECONDS up to
# WEBHOOK_RETRY_MAX_SECONDS between tries, for WEBHOOK_RETRY_WINDOW_SECONDS after it happened; then it
# ends `failed` (replayable). An endpoint failing for WEBHOOK_DISABLE_AFTER_SECONDS is disabled.
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=5.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
WEBHOOK_RETRY_WINDOW_SECONDS = env.int("WEBHOOK_RETRY_WINDOW_SECONDS", default=86400)
WEBHOOK_DISABLE_AFTER_SECONDS = env.int("WEBHOOK_DISABLE_AFTER_SECONDS", default=86400)
# Events of one endpoint per task message, and the most one request may carry (an endpoint's
# max_events_per_request is at most this).
WEBHOOK_BATCH_SIZE = env.int("WEBHOOK_BATCH_SIZE", default=50)
WEBHOOK_MAX_EVENTS_PER_REQUEST = env.int("WEBHOOK_MAX_EVENTS_PER_REQUEST", default=100)
# A worker stops starting requests for a message after this long and hands the rest back at once; a
# message's events are leased for this plus one request's timeout, after which the relay publishes them
# again (a worker that died mid-message loses nothing).
WEBHOOK_MESSAGE_BUDGET_SECONDS = env.float("WEBHOOK_MESSAGE_BUDGET_SECONDS", default=30.0)
# After a secret's rotation, the old one keeps signing (beside the new) this long.
WEBHOOK_SECRET_GRACE_SECONDS = env.int("WEBHOOK_SECRET_GRACE_SECONDS", default=86400)
WEBHOOK_MAX_ENDPOINTS = env.int("WEBHOOK_MAX_ENDPOINTS", default=50)
WEBHOOK_WORKER_CONCURRENCY = env.int("WEBHOOK_WORKER_CONCURRENCY", default=4)

# Web Push (VAPID, RFC 8292): `make run` writes a key pair into .env on first start. The private key is
# the PEM's base64url DER form (as `vapid --gen` and py_vapid read it); the public key, base64url of the
# uncompressed point, is what a browser's pushManager.subscribe() takes as applicationServerKey.
WEB_PUSH_VAPID_PRIVATE_KEY = env.str("WEB_PUSH_VAPID_PRIVATE_KEY", default="")
WEB_PUSH_VAPID_PUBLIC_KEY = env.str("WEB_PUSH_VAPID_PUBLIC_KEY", default="")
# The VAPID `sub` claim: how a push service reaches the sender's operator.
WEB_PUSH_VAPID_SUBJECT = env.str("WEB_PUSH_VAPID_SUBJECT", default="mailto:ops@notifier.local")
WEB_PUSH_TTL_SECONDS = env.int("WEB_PUSH_TTL_SECONDS", default=86400)
WEB_PUSH_TIMEOUT_SECONDS = env.float("WEB_PUSH_TIMEOUT_SECONDS", default=10.0)
# Push services' URLs are the browser's; a subscription whose endpoint is plain http or a private address
# is refused unless these allow it (tests and the local push-service stand-in).
WEB_PUSH_ALLOW_HTTP = env.bool("WEB_PUSH_ALLOW_HTTP", default=False)
WEB_PUSH_ALLOW_PRIVATE = env.bool("WEB_PUSH_ALLOW_PRIVATE", default=False)
