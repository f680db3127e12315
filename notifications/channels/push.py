"""Push through the Firebase Admin SDK (FCM HTTP v1), or the dry-run file outbox when no credentials exist.

The provider is chosen by PUSH_PROVIDER (an import string); "auto" picks Firebase when the
FIREBASE_CREDENTIALS file exists. FCM_ENDPOINT replaces the API base URL for emulators and tests.
"""

import json
import logging
import os
import tempfile
import threading
import warnings
from functools import cache
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from notifications.channels.base import (
    DeliveryError,
    OutgoingPush,
    PermanentDeliveryError,
    PushResult,
    TransientDeliveryError,
)

logger = logging.getLogger(__name__)

# Device registration tokens are what client apps hold; FCM v1 accepts them in `token`.
warnings.filterwarnings("ignore", message="Message.token is deprecated")

FCM_BATCH_LIMIT = 500


class PushProvider(Protocol):
    def send(self, *, messages: list[OutgoingPush]) -> list[PushResult]:
        """One result per message, in order. Raises TransientDeliveryError when nothing could be tried."""
        ...


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "http_response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class FirebasePushProvider:
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

    def send(self, *, messages: list[OutgoingPush]) -> list[PushResult]:
        from firebase_admin import exceptions, messaging

        results: list[PushResult] = []
        app = self._firebase_app()
        for start in range(0, len(messages), FCM_BATCH_LIMIT):
            chunk = messages[start : start + FCM_BATCH_LIMIT]
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
            for push, response in zip(chunk, batch.responses, strict=True):
                if response.success:
                    results.append(PushResult(device_id=push.device_id, message_id=response.message_id))
                else:
                    error, token_invalid = self._classify(response.exception)
                    results.append(
                        PushResult(device_id=push.device_id, error=error, token_invalid=token_invalid)
                    )
        return results


class FilePushProvider:
    """Dry run: writes what would be pushed to PUSH_FILE_PATH/<notification_id>.json."""

    def send(self, *, messages: list[OutgoingPush]) -> list[PushResult]:
        directory = Path(settings.PUSH_FILE_PATH)
        directory.mkdir(parents=True, exist_ok=True)
        by_notification: dict[str, list[OutgoingPush]] = {}
        for push in messages:
            by_notification.setdefault(push.notification_id, []).append(push)
        for notification_id, pushes in by_notification.items():
            document = {
                "dry_run": True,
                "notification_id": notification_id,
                "correlation_id": pushes[0].correlation_id,
                "title": pushes[0].title,
                "body": pushes[0].body,
                "image_url": pushes[0].image_url,
                "link": pushes[0].link,
                "data": pushes[0].data,
                "devices": [{"device_id": p.device_id, "platform": p.platform} for p in pushes],
            }
            fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
            with os.fdopen(fd, "w") as handle:
                json.dump(document, handle, indent=2)
            os.replace(tmp, directory / f"{notification_id}.json")
        return [
            PushResult(device_id=p.device_id, message_id=f"dry-run:{p.notification_id}") for p in messages
        ]


@cache
def push_provider_get() -> PushProvider:
    path = settings.PUSH_PROVIDER
    if path == "auto":
        use_firebase = Path(settings.FIREBASE_CREDENTIALS).is_file()
        provider: PushProvider = FirebasePushProvider() if use_firebase else FilePushProvider()
    else:
        provider = import_string(path)()
    logger.info("push provider selected", extra={"provider": provider.__class__.__name__})
    return provider
