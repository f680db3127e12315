"""Push to browsers through Web Push with VAPID (RFC 8030, 8291, 8292), with pywebpush: the payload is
encrypted for the browser's subscription keys (aes128gcm) and signed with this installation's VAPID key,
so no Firebase project is needed. A subscription the push service says is gone (404, 410) deactivates
its device, as FCM's UNREGISTERED does; 429 and 5xx are transient.

Push services' URLs come from browsers: requests go through notifier.outbound (https only, no private
addresses, no redirects, bounded answers), unless WEB_PUSH_ALLOW_HTTP / WEB_PUSH_ALLOW_PRIVATE allow the
local stand-in. Messages are sent one after another over kept connections.
"""

import json
import logging
from collections.abc import Sequence
from typing import Any

import requests
from django.conf import settings
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush

from notifications.providers.base import (
    DEVICE_KIND_WEB_PUSH,
    DeliveryError,
    OutgoingPush,
    PermanentDeliveryError,
    SendResult,
    TransientDeliveryError,
)
from notifier.outbound import BoundedSession, OutboundRefused

logger = logging.getLogger(__name__)

# RFC 8291 leaves 4,078 bytes of plaintext in a 4,096-byte record after its padding and tag.
WEB_PUSH_PAYLOAD_MAX_BYTES = 4078


def web_push_payload(push: OutgoingPush) -> bytes:
    """What the service worker receives (event.data.json()): what it needs to show the notification."""
    document: dict[str, Any] = {
        "notification_id": push.notification_id,
        "title": push.title,
        "body": push.body,
        "image": push.image_url or None,
        "link": push.link or None,
        "data": push.data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class WebPushProvider:
    name = "webpush"
    device_kinds = frozenset({DEVICE_KIND_WEB_PUSH})

    def __init__(self) -> None:
        from users.services import web_push_policy

        self._vapid: Vapid02 | None = None
        if settings.WEB_PUSH_VAPID_PRIVATE_KEY:
            self._vapid = Vapid02.from_string(private_key=settings.WEB_PUSH_VAPID_PRIVATE_KEY)
        self._session = BoundedSession(web_push_policy())

    def close(self) -> None:
        self._session.close()

    def send(self, messages: Sequence[OutgoingPush]) -> list[SendResult]:
        return [self._send_one(push) for push in messages]

    def _send_one(self, push: OutgoingPush) -> SendResult:
        if self._vapid is None:
            return SendResult(
                error=PermanentDeliveryError("Web Push has no VAPID key (WEB_PUSH_VAPID_PRIVATE_KEY)")
            )
        if not push.subscription:
            return SendResult(error=PermanentDeliveryError("the device has no Web Push subscription"))
        payload = web_push_payload(push)
        if len(payload) > WEB_PUSH_PAYLOAD_MAX_BYTES:
            return SendResult(
                error=PermanentDeliveryError(
                    f"the push is {len(payload)} bytes; Web Push carries at most {WEB_PUSH_PAYLOAD_MAX_BYTES}"
                )
            )
        try:
            response = webpush(
                subscription_info=push.subscription,
                data=payload.decode(),
                vapid_private_key=self._vapid,
                vapid_claims={"sub": settings.WEB_PUSH_VAPID_SUBJECT},
                content_encoding="aes128gcm",
                ttl=settings.WEB_PUSH_TTL_SECONDS,
                timeout=settings.WEB_PUSH_TIMEOUT_SECONDS,
                headers={"Urgency": "normal"},
                requests_session=self._session,
            )
        except WebPushException as exc:
            return SendResult(
                error=self._error_of(exc),
                token_invalid=exc.response is not None and exc.response.status_code in (404, 410),
            )
        except OutboundRefused as exc:
            return SendResult(error=PermanentDeliveryError(f"the push service URL is refused: {exc.reason}"))
        except requests.Timeout as exc:
            return SendResult(
                error=TransientDeliveryError(
                    f"push service timeout: {exc.__class__.__name__}", ambiguous=True
                )
            )
        except requests.RequestException as exc:
            return SendResult(
                error=TransientDeliveryError(f"push service unreachable: {exc.__class__.__name__}")
            )
        location = response.headers.get("Location", "")
        return SendResult(
            message_id=str(location)[:255] or f"webpush:{push.notification_id}:{push.device_id}"
        )

    @staticmethod
    def _error_of(exc: WebPushException) -> DeliveryError:
        response = exc.response
        status = response.status_code if response is not None else None
        if status in (404, 410):
            return PermanentDeliveryError(f"the subscription is gone (push service answered {status})")
        if status == 429 or (status is not None and status >= 500):
            return TransientDeliveryError(
                f"push service answered {status}", retry_after=_retry_after(response)
            )
        return PermanentDeliveryError(f"push service refused the push ({status})")
