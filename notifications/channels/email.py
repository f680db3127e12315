"""Email through Django's email backend: SMTP, any django-anymail provider, or the file outbox.

The backend is chosen by EMAIL_BACKEND; one connection is kept open per worker process and reopened
after an error, so SMTP does not pay a handshake per message.
"""

import logging
import smtplib
import socket
import threading
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from notifications.channels.base import (
    OutgoingEmail,
    PermanentDeliveryError,
    RecipientDeferredError,
    TransientDeliveryError,
)

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_connection: BaseEmailBackend | None = None


def _connection_get() -> tuple[BaseEmailBackend, bool]:
    """The process's open connection, and whether it was opened just now."""
    global _connection
    if _connection is not None:
        return _connection, False
    connection = get_connection(fail_silently=False)
    connection.open()
    _connection = connection
    return connection, True


def email_connection_close() -> None:
    global _connection
    if _connection is not None:
        try:
            _connection.close()
        except (smtplib.SMTPException, OSError):
            logger.debug("closing a broken email connection failed", exc_info=True)
        _connection = None


def message_id_for(notification_id: str) -> str:
    """Deterministic, so a redelivered message carries the same Message-ID and receivers can dedupe."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "notifier.local"
    return f"<{notification_id}@{domain}>"


def _build(message: OutgoingEmail) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        headers={
            "Message-ID": message_id_for(message.notification_id),
            "X-Notification-Id": message.notification_id,
            "X-Correlation-ID": message.correlation_id,
        },
    )
    if message.html_body:
        email.attach_alternative(message.html_body, "text/html")
    return email


def _classify(exc: Exception) -> Exception:
    """Maps a provider exception to a transient or a permanent delivery error."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{code} {msg.decode(errors='replace')}" for code, msg in exc.recipients.values())
        if any(code >= 500 for code in codes):
            return PermanentDeliveryError(f"recipient refused: {detail}")
        return RecipientDeferredError(f"recipient deferred: {detail}")
    if isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500:
        return PermanentDeliveryError(f"message refused: {exc.smtp_code} {exc.smtp_error!r}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return TransientDeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}")
    try:
        from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
    except ImportError:  # pragma: no cover - anymail is a pinned requirement
        AnymailAPIError = AnymailRecipientsRefused = ()  # type: ignore[assignment,misc]
    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentDeliveryError(f"recipient refused by the provider: {exc}")
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        if status is not None and 400 <= status < 500 and status not in (408, 429):
            return PermanentDeliveryError(f"provider refused the message ({status}): {exc}")
        return TransientDeliveryError(f"provider error ({status}): {exc}")
    return TransientDeliveryError(f"{exc.__class__.__name__}: {exc}")


# Failures of the transport itself: the message may be retried.
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (smtplib.SMTPException, OSError, socket.timeout)
try:
    from anymail.exceptions import AnymailError

    _TRANSPORT_ERRORS += (AnymailError,)
except ImportError:  # pragma: no cover
    pass


def email_send(*, message: OutgoingEmail) -> str:
    """Sends one email; returns the provider's message id. Raises Transient/PermanentDeliveryError."""
    email = _build(message)
    with _lock:
        for attempt in (1, 2):
            try:
                connection, fresh = _connection_get()
                sent = connection.send_messages([email])
            except smtplib.SMTPServerDisconnected as exc:
                email_connection_close()
                # A kept connection the server closed while idle: nothing was sent, reconnect once.
                if attempt == 1 and not fresh:
                    continue
                raise _classify(exc) from exc
            except _TRANSPORT_ERRORS as exc:
                email_connection_close()
                raise _classify(exc) from exc
            if not sent:
                raise TransientDeliveryError("the email backend reported nothing sent")
            break
    status = getattr(email, "anymail_status", None)
    provider_id = getattr(status, "message_id", None) if status is not None else None
    return str(provider_id or email.extra_headers["Message-ID"])
