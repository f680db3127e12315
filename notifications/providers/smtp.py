"""Email over SMTP, on connections kept open per worker process (SMTP_CONNECTIONS, default 1; each
reopened after an error), with ESMTP PIPELINING where the server offers it.

Django builds each message (headers checked for injection) and opens the connections (STARTTLS or TLS,
login); the envelope goes out here. smtplib waits for the answer to each of MAIL, RCPT and DATA before
sending the next; a server that offers PIPELINING (RFC 2920; Postfix, Exim and the email service
providers do) takes the three in one write, which saves two round trips per message. smtplib has no
pipelining and no maintained client library adds it to a blocking client, so the few lines are here.

With several connections, messages go out in windows of one per connection, sent at the same time; the
window's results are answered in order, so every acceptance is recorded before its connection carries the
next message.
"""

import contextlib
import logging
import re
import smtplib
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.message import sanitize_address

from notifications.providers.base import OutgoingEmail, PermanentDeliveryError, SendResult
from notifications.providers.email import EMAIL_TRANSPORT_ERRORS, email_build, email_error_classify

logger = logging.getLogger(__name__)

_LEADING_DOT = re.compile(rb"(?m)^\.")
CRLF = b"\r\n"


def sendmail_pipelined(smtp: smtplib.SMTP, from_addr: str, to_addrs: list[str], message: bytes) -> None:
    """smtplib's sendmail, with MAIL, RCPT and DATA in one write when the server offers PIPELINING.

    Raises what smtplib.SMTP.sendmail raises, in the same cases (after a RSET where it does one).
    """
    smtp.ehlo_or_helo_if_needed()
    if not smtp.has_extn("pipelining"):
        smtp.sendmail(from_addr, to_addrs, message)
        return
    options = f" SIZE={len(message)}" if smtp.has_extn("size") else ""
    commands = [f"MAIL FROM:{smtplib.quoteaddr(from_addr)}{options}"]
    commands += [f"RCPT TO:{smtplib.quoteaddr(address)}" for address in to_addrs]
    commands.append("DATA")
    smtp.send("".join(f"{command}\r\n" for command in commands))
    mail_code, mail_reply = smtp.getreply()
    refused: dict[str, tuple[int, bytes]] = {}
    for address in to_addrs:
        code, reply = smtp.getreply()
        if code not in (250, 251):
            refused[address] = (code, reply)
    data_code, data_reply = smtp.getreply()
    if data_code == 354 and (mail_code != 250 or len(refused) == len(to_addrs)):
        # The server took DATA although the envelope failed: end the empty message, then reset.
        smtp.send(b"." + CRLF)
        smtp.getreply()
    if mail_code != 250:
        _reset(smtp, mail_code)
        raise smtplib.SMTPSenderRefused(mail_code, mail_reply, from_addr)
    if len(refused) == len(to_addrs):
        _reset(smtp, 0)
        raise smtplib.SMTPRecipientsRefused(refused)
    if data_code != 354:
        _reset(smtp, data_code)
        raise smtplib.SMTPDataError(data_code, data_reply)
    body = _LEADING_DOT.sub(b"..", message)
    if not body.endswith(CRLF):
        body += CRLF
    smtp.send(body + b"." + CRLF)
    code, reply = smtp.getreply()
    if code != 250:
        _reset(smtp, code)
        raise smtplib.SMTPDataError(code, reply)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)


def _reset(smtp: smtplib.SMTP, code: int) -> None:
    if code == 421:  # the server is closing the connection
        smtp.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()


class SmtpProvider:
    """An SMTP account: SMTP_* settings by default, or options of its entry in EMAIL_PROVIDERS (host,
    port, username, password, use_tls, use_ssl, timeout, connections), so a channel can list two."""

    name = "smtp"

    def __init__(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool | None = None,
        use_ssl: bool | None = None,
        timeout: float | None = None,
        connections: int | None = None,
    ) -> None:
        self._account: dict[str, Any] = {
            "host": settings.SMTP_HOST if host is None else host,
            "port": settings.SMTP_PORT if port is None else port,
            "username": (settings.SMTP_USER if username is None else username) or None,
            "password": (settings.SMTP_PASS if password is None else password) or None,
            "use_tls": settings.SMTP_USE_TLS if use_tls is None else use_tls,
            "use_ssl": settings.SMTP_USE_SSL if use_ssl is None else use_ssl,
            "timeout": settings.SMTP_TIMEOUT_SECONDS if timeout is None else timeout,
        }
        width = settings.SMTP_CONNECTIONS if connections is None else connections
        self._backends: list[EmailBackend | None] = [None] * max(1, width)
        # A send left running by a batch that stopped early (its time ran out) finishes before its
        # connection carries another message.
        self._slot_locks = [threading.Lock() for _ in self._backends]

    @property
    def in_flight(self) -> int:
        """Messages sent at once: one per connection (see `send`)."""
        return len(self._backends)

    @cached_property
    def _from_address(self) -> str:
        return sanitize_address(settings.DEFAULT_FROM_EMAIL, settings.DEFAULT_CHARSET)

    @cached_property
    def _executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=len(self._backends), thread_name_prefix="smtp")

    def close(self) -> None:
        for slot in range(len(self._backends)):
            self._close(slot)

    def _close(self, slot: int) -> None:
        backend = self._backends[slot]
        self._backends[slot] = None
        if backend is not None:
            try:
                backend.close()
            except EMAIL_TRANSPORT_ERRORS:
                logger.debug("closing a broken SMTP connection failed", exc_info=True)

    def _connection(self, slot: int) -> tuple[smtplib.SMTP, bool]:
        """The slot's kept connection, and whether it was opened just now."""
        backend = self._backends[slot]
        if backend is not None and backend.connection is not None:
            return backend.connection, False
        backend = EmailBackend(**self._account, fail_silently=False)
        backend.open()
        self._backends[slot] = backend
        assert backend.connection is not None
        return backend.connection, True

    def send(self, messages: Sequence[OutgoingEmail]) -> Iterator[SendResult]:
        width = len(self._backends)
        if width == 1:
            for message in messages:
                yield self._send_one(0, message)
            return
        for start in range(0, len(messages), width):
            window = messages[start : start + width]
            yield from self._executor.map(self._send_one, range(len(window)), window)

    def _send_one(self, slot: int, message: OutgoingEmail) -> SendResult:
        with self._slot_locks[slot]:
            return self._send_on(slot, message)

    def _send_on(self, slot: int, message: OutgoingEmail) -> SendResult:
        email = email_build(message)
        try:
            payload = email.message().as_bytes(linesep="\r\n")  # type: ignore[call-arg]
            recipients = [sanitize_address(to, settings.DEFAULT_CHARSET) for to in email.recipients()]
        except ValueError as exc:  # an address or a header Django refuses to put on the wire
            return SendResult(error=PermanentDeliveryError(f"message refused before sending: {exc}"))
        for attempt in (1, 2):
            try:
                smtp, fresh = self._connection(slot)
            except EMAIL_TRANSPORT_ERRORS as exc:
                # No connection: nothing was handed over, another provider may take it at once.
                self._close(slot)
                return SendResult(error=email_error_classify(exc))
            try:
                sendmail_pipelined(smtp, self._from_address, recipients, payload)
            except smtplib.SMTPServerDisconnected as exc:
                self._close(slot)
                # A kept connection the server closed while idle: nothing was sent, reconnect once.
                if attempt == 1 and not fresh:
                    continue
                return SendResult(error=email_error_classify(exc, in_flight=True))
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                # The server answered and the connection stays usable (it was reset).
                return SendResult(error=email_error_classify(exc))
            except EMAIL_TRANSPORT_ERRORS as exc:
                self._close(slot)
                return SendResult(error=email_error_classify(exc, in_flight=True))
            break
        return SendResult(message_id=str(email.extra_headers["Message-ID"]))
