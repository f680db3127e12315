"""Registering, changing and removing webhook endpoints. Services and staff share them (API keys and staff
are the trusted operators of this installation); each endpoint records who created it."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications.models import WebhookEndpoint, WebhookEvent, WebhookEventState
from notifications.webhooks.policy import webhook_policy
from notifications.webhooks.signing import webhook_secret_new
from notifier.api.errors import ApplicationError
from notifier.outbound import OutboundRefused, outbound_url_check

# Pending events of a disabled endpoint wait here, out of the relay's due index, until it is enabled.
PARKED = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str


def webhook_not_found() -> ApplicationError:
    return ApplicationError("No such webhook endpoint.", code="not_found", status=404)


def _url_checked(url: str) -> str:
    try:
        outbound_url_check(url, policy=webhook_policy())
    except OutboundRefused as exc:
        message = f"This URL cannot receive webhooks: {exc.reason}."
        raise ApplicationError(message, code="url_refused", data={"url": [message]}) from exc
    return url


def _events_parked(endpoint: WebhookEndpoint, *, parked: bool) -> None:
    pending = WebhookEvent.objects.filter(endpoint=endpoint, state=WebhookEventState.PENDING)
    pending.update(available_at=PARKED if parked else timezone.now(), leased_until=None)


def webhook_endpoint_create(
    *, url: str, events: list[str], description: str = "", max_events_per_request: int = 1, by: str
) -> EndpointWithSecret:
    if WebhookEndpoint.objects.count() >= settings.WEBHOOK_MAX_ENDPOINTS:
        raise ApplicationError(
            f"At most {settings.WEBHOOK_MAX_ENDPOINTS} webhook endpoints (WEBHOOK_MAX_ENDPOINTS).",
            code="limit_reached",
            status=409,
        )
    secret = webhook_secret_new()
    endpoint = WebhookEndpoint.objects.create(
        url=_url_checked(url),
        events=sorted(set(events)),
        description=description,
        max_events_per_request=max_events_per_request,
        secret=secret,
        created_by=by[:64],
    )
    return EndpointWithSecret(endpoint, secret)


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, changes: dict[str, Any]) -> WebhookEndpoint:
    """Changes url, events, description, max_events_per_request or is_active. Enabling an endpoint clears
    its disabled reason and sends what waited for it; disabling parks its pending events."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if "url" in changes:
            endpoint.url = _url_checked(changes["url"])
        if "events" in changes:
            endpoint.events = sorted(set(changes["events"]))
        for field in ("description", "max_events_per_request"):
            if field in changes:
                setattr(endpoint, field, changes[field])
        if "is_active" in changes and changes["is_active"] != endpoint.is_active:
            _set_active(endpoint, active=changes["is_active"], reason="disabled through the API")
        endpoint.save()
    return endpoint


def _set_active(endpoint: WebhookEndpoint, *, active: bool, reason: str) -> None:
    endpoint.is_active = active
    endpoint.failing_since = None
    endpoint.disabled_reason = "" if active else reason[:2000]
    endpoint.disabled_at = None if active else timezone.now()
    _events_parked(endpoint, parked=not active)


def webhook_endpoint_disable(*, endpoint_id: int, reason: str) -> None:
    """Disables an endpoint (a 410, or failing too long) and parks its pending events."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id, is_active=True).first()
        if endpoint is None:
            return
        _set_active(endpoint, active=False, reason=reason)
        endpoint.save()


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> EndpointWithSecret:
    """A new secret; the current one keeps signing beside it for WEBHOOK_SECRET_GRACE_SECONDS."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = timezone.now() + timedelta(
            seconds=settings.WEBHOOK_SECRET_GRACE_SECONDS
        )
        endpoint.secret = webhook_secret_new()
        endpoint.save()
    return EndpointWithSecret(endpoint, endpoint.secret)


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Deletes the endpoint with its events and attempts."""
    endpoint.delete()
