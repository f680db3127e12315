"""What the email providers share: the message as Django builds it (headers checked for injection, MIME
parts, a deterministic Message-ID), and how a provider's exceptions map to delivery errors."""

import smtplib
import socket
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from notifications.providers.base import (
    OutgoingEmail,
    PermanentDeliveryError,
    RecipientDeferredError,
    TransientDeliveryError,
)


def message_id_for(notification_id: str) -> str:
    """Deterministic, so a redelivered message carries the same Message-ID and receivers can dedupe."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "notifier.local"
    return f"<{notification_id}@{domain}>"


def email_build(message: OutgoingEmail) -> EmailMultiAlternatives:
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


def email_error_classify(
    exc: Exception, *, in_flight: bool = False
) -> TransientDeliveryError | PermanentDeliveryError:
    """Maps a provider exception to a transient or a permanent delivery error. `in_flight`: it came while
    the message was being handed over, so a failure without an answer from the provider is ambiguous."""
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
        return TransientDeliveryError(
            f"provider error ({status}): {exc}", ambiguous=in_flight and status is None
        )
    return TransientDeliveryError(f"{exc.__class__.__name__}: {exc}", ambiguous=in_flight)


# Failures of the transport itself: the message may be retried.
EMAIL_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (smtplib.SMTPException, OSError, socket.timeout)
try:
    from anymail.exceptions import AnymailError

    EMAIL_TRANSPORT_ERRORS += (AnymailError,)
except ImportError:  # pragma: no cover
    pass
