"""The dry-run push provider, for machines without Firebase credentials: one JSON file per notification
under PUSH_FILE_PATH (var/push), listing what would have been pushed to which devices."""

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings

from notifications.providers.base import OutgoingPush, SendResult


class FilePushProvider:
    """Dry run: writes what would be pushed to PUSH_FILE_PATH/<notification_id>.json."""

    name = "push_file"

    def close(self) -> None:
        """Nothing is kept open."""

    def send(self, messages: Sequence[OutgoingPush]) -> list[SendResult]:
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
        return [SendResult(message_id=f"dry-run:{p.notification_id}") for p in messages]
