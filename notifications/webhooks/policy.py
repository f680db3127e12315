"""What webhook requests may reach and how long they may take, from settings."""

from django.conf import settings

from notifier.outbound import OutboundPolicy


def webhook_policy() -> OutboundPolicy:
    return OutboundPolicy(
        allow_http=settings.WEBHOOK_ALLOW_HTTP,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE,
        connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS,
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        max_body=settings.WEBHOOK_RESPONSE_MAX_BYTES,
    )


def webhook_lease_seconds() -> float:
    """How long a worker holds a message's events: its budget plus one request's timeout, and a margin."""
    return settings.WEBHOOK_MESSAGE_BUDGET_SECONDS + settings.WEBHOOK_TIMEOUT_SECONDS + 5.0
