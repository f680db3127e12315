"""Email through a Django email backend (EMAIL_BACKEND): any django-anymail provider's, Django's own SMTP
backend, or the file outbox under var/mail when nothing else is configured.

One backend connection is kept open per worker process and reopened after an error; messages go out one
at a time, each when the caller asks for its result.
"""

import logging
import smtplib
from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend

from notifications.providers.base import OutgoingEmail, SendResult, TransientDeliveryError
from notifications.providers.email import EMAIL_TRANSPORT_ERRORS, email_build, email_error_classify

logger = logging.getLogger(__name__)


class DjangoMailProvider:
    def __init__(self, *, backend: str | None = None, **backend_options: Any) -> None:
        """`backend` and its options (host, api_key, ...) come from an EMAIL_PROVIDERS entry; else
        EMAIL_BACKEND and its settings."""
        self.backend_path = str(backend or settings.EMAIL_BACKEND)
        self._backend_options = backend_options
        # "anymail.backends.sendgrid.EmailBackend" -> "sendgrid"; the file outbox -> "mail_outbox".
        self.name = self.backend_path.rsplit(".", 2)[-2] if self.backend_path.count(".") >= 2 else "django"
        self._connection: BaseEmailBackend | None = None

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except EMAIL_TRANSPORT_ERRORS:
                logger.debug("closing a broken email connection failed", exc_info=True)
            self._connection = None

    def _connection_get(self) -> tuple[BaseEmailBackend, bool]:
        """The kept connection, and whether it was opened just now."""
        if self._connection is not None:
            return self._connection, False
        connection = get_connection(self.backend_path, fail_silently=False, **self._backend_options)
        connection.open()
        self._connection = connection
        return connection, True

    def send(self, messages: Sequence[OutgoingEmail]) -> Iterator[SendResult]:
        for message in messages:
            yield self._send_one(message)

    def _send_one(self, message: OutgoingEmail) -> SendResult:
        email = email_build(message)
        for attempt in (1, 2):
            try:
                connection, fresh = self._connection_get()
            except EMAIL_TRANSPORT_ERRORS as exc:
                # No connection: nothing was handed over, another provider may take it at once.
                self.close()
                return SendResult(error=email_error_classify(exc))
            try:
                sent = connection.send_messages([email])
            except smtplib.SMTPServerDisconnected as exc:
                self.close()
                # A kept connection the server closed while idle: nothing was sent, reconnect once.
                if attempt == 1 and not fresh:
                    continue
                return SendResult(error=email_error_classify(exc, in_flight=True))
            except EMAIL_TRANSPORT_ERRORS as exc:
                self.close()
                return SendResult(error=email_error_classify(exc, in_flight=True))
            if not sent:
                return SendResult(error=TransientDeliveryError("the email backend reported nothing sent"))
            break
        status = getattr(email, "anymail_status", None)
        provider_id = getattr(status, "message_id", None) if status is not None else None
        return SendResult(message_id=str(provider_id or email.extra_headers["Message-ID"]))
