"""The embedded email provider for machines without an SMTP account: one .eml file per message.

Django's file backend appends every message of a connection to one log file; an outbox that a person
(or a test) reads wants one file per message, named after the notification.
"""

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend


class FileOutboxBackend(BaseEmailBackend):
    def __init__(self, *, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.directory = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            name = message.extra_headers.get("X-Notification-Id") or message.extra_headers.get("Message-ID")
            safe_name = "".join(c for c in str(name) if c.isalnum() or c in "-_.") or "message"
            # Written to a temporary file and renamed, so a reader never sees half a message.
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.message().as_bytes())
            os.replace(tmp, self.directory / f"{safe_name}.eml")
        return len(email_messages)
