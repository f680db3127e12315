"""Push through the Firebase Admin SDK (FCM HTTP v1) across notifications: up to 500 messages per call.

FCM_ENDPOINT replaces the API base URL (for tests and benchmarks). The SDK's `send_each` is used rather
than `send_each_async`: measured against an FCM stand-in with HTTP/1.1 keep-alive on this kind of machine
(`bench/fcm_send_modes.py`), `send_each` sent ~700 messages/s from one process and `send_each_async` ~300.
"""

import logging
import threading
import warnings
from collections.abc import Sequence

from django.conf import settings

from notifications.providers.base import (
    DeliveryError,
    OutgoingPush,
    PermanentDeliveryError,
    SendResult,
    TransientDeliveryError,
)

logger = logging.getLogger(__name__)

# Device registration tokens are what client apps hold; FCM v1 accepts them in `token`.
warnings.filterwarnings("ignore", message="Message.token is deprecated")

FCM_BATCH_LIMIT = 500


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "http_response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def fcm_pool_widen(app, endpoint: str) -> None:  # type: ignore[no-untyped-def]
    """`send_each` sends each message from a thread of its own. For fcm.googleapis.com the SDK mounts a
    pool of 100 connections; any other endpoint (FCM_ENDPOINT) would get requests' default pool of 10,
    which discards a connection (and opens a new one) for most messages of a large call. The same pool is
    mounted for the configured endpoint, as the SDK does for its own."""
    import requests
    from firebase_admin import _http_client, messaging

    endpoint = endpoint.rstrip("/") + "/"
    if endpoint.startswith("https://fcm.googleapis.com/"):
        return
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=100, pool_maxsize=100, max_retries=_http_client.DEFAULT_RETRY_CONFIG
    )
    messaging._get_messaging_service(app)._client.session.mount(endpoint, adapter)


class FirebasePushProvider:
    name = "fcm"
    APP_NAME = "notifier"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._app = None

    def _firebase_app(self):  # type: ignore[no-untyped-def]
        import firebase_admin
        from firebase_admin import credentials, messaging

        with self._lock:
            if self._app is None:
                # The SDK formats this class attribute when an app's messaging service is first made.
                messaging._MessagingService.FCM_URL = (
                    settings.FCM_ENDPOINT.rstrip("/") + "/v1/projects/{0}/messages:send"
                )
                cred = credentials.Certificate(settings.FIREBASE_CREDENTIALS)
                self._app = firebase_admin.initialize_app(
                    cred, {"httpTimeout": settings.FCM_TIMEOUT_SECONDS}, name=self.APP_NAME
                )
                fcm_pool_widen(self._app, settings.FCM_ENDPOINT)
            return self._app

    @staticmethod
    def _message(push: OutgoingPush):  # type: ignore[no-untyped-def]
        from firebase_admin import messaging

        collapse = push.notification_id
        return messaging.Message(
            token=push.token,
            notification=messaging.Notification(
                title=push.title, body=push.body, image=push.image_url or None
            ),
            data={**push.data, "notification_id": push.notification_id, "link": push.link},
            # A redelivered duplicate replaces the first on the device instead of showing twice.
            android=messaging.AndroidConfig(
                collapse_key=collapse[:64], notification=messaging.AndroidNotification(tag=collapse)
            ),
            apns=messaging.APNSConfig(headers={"apns-collapse-id": collapse[:64]}),
            webpush=messaging.WebpushConfig(
                fcm_options=messaging.WebpushFCMOptions(link=push.link)
                if push.link.startswith("https://")
                else None
            ),
        )

    @staticmethod
    def _classify(exc: Exception) -> tuple[DeliveryError, bool]:
        from firebase_admin import exceptions, messaging

        if isinstance(exc, (messaging.UnregisteredError, messaging.SenderIdMismatchError)):
            return PermanentDeliveryError(f"token not registered: {exc}"), True
        if isinstance(exc, exceptions.InvalidArgumentError):
            token_invalid = "registration token" in str(exc).lower()
            return PermanentDeliveryError(f"invalid argument: {exc}"), token_invalid
        return TransientDeliveryError(
            f"{exc.__class__.__name__}: {exc}", retry_after=_retry_after(exc)
        ), False

    def close(self) -> None:
        """Drops the SDK's app (and its HTTP sessions), so the next send starts from the settings."""
        import firebase_admin

        with self._lock:
            if self._app is not None:
                firebase_admin.delete_app(self._app)
                self._app = None

    def send(self, messages: Sequence[OutgoingPush]) -> list[SendResult]:
        from firebase_admin import exceptions, messaging

        results: list[SendResult] = []
        app = self._firebase_app()
        for start in range(0, len(messages), FCM_BATCH_LIMIT):
            chunk = list(messages[start : start + FCM_BATCH_LIMIT])
            try:
                built = [self._message(push) for push in chunk]
            except ValueError as exc:
                raise PermanentDeliveryError(f"push payload refused by the SDK: {exc}") from exc
            try:
                batch = messaging.send_each(built, app=app)
            except exceptions.FirebaseError as exc:
                raise TransientDeliveryError(
                    f"FCM unreachable: {exc}", retry_after=_retry_after(exc)
                ) from exc
            for response in batch.responses:
                if response.success:
                    results.append(SendResult(message_id=response.message_id))
                else:
                    error, token_invalid = self._classify(response.exception)
                    results.append(SendResult(error=error, token_invalid=token_invalid))
        return results
