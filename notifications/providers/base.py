"""What every provider takes and answers.

A provider's `send(messages)` answers one SendResult per message, in order: accepted (a message id),
transient (TransientDeliveryError, with the provider's retry-after when it gave one: timeouts,
connection errors, SMTP 4xx, FCM 429/5xx) or permanent (PermanentDeliveryError: a refused recipient, a
dead token, with `token_invalid` when the device must be deactivated). The delivery service retries the
first and dead-letters the second. A provider raises TransientDeliveryError only when nothing of the list
could be tried.

Email providers answer lazily (an iterator): the next message goes out only when the caller asks for the
next result, so the caller records each acceptance before the next message is sent on the same
connection. A provider that sends a window of messages at once says how many in `in_flight` (default 1):
the windows start at the first message of the list. Push providers answer a list: FCM takes up to 500
messages per call. Each push provider delivers some kinds of devices (`device_kinds`): FCM tokens, or
browsers' Web Push subscriptions; one delivery sends each device's push through its kind's provider.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# How a push device is reached (users.models names the same two).
DEVICE_KIND_FCM = "fcm"
DEVICE_KIND_WEB_PUSH = "web_push"
DEVICE_KINDS = (DEVICE_KIND_FCM, DEVICE_KIND_WEB_PUSH)

# Providers quote the recipient in their refusals ("550 <ada@example.com>: no such user"); the reason
# is stored and logged, and must not carry personal data.
_EMAIL_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")


def reason_redact(text: str) -> str:
    return _EMAIL_ADDRESS.sub("<address>", text)


class DeliveryError(Exception):
    def __init__(self, reason: str) -> None:
        reason = reason_redact(reason)
        super().__init__(reason)
        self.reason = reason


class TransientDeliveryError(DeliveryError):
    """`ambiguous`: the message was on its way when the failure came (a timeout or a dropped connection
    after it was handed over), so the provider may have it: it is not tried on another provider at once
    (that could send it twice); it is retried later and counts against the provider's breaker."""

    def __init__(self, reason: str, *, retry_after: float | None = None, ambiguous: bool = False) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class RecipientDeferredError(TransientDeliveryError):
    """A temporary refusal about one recipient (SMTP 450/451/452 on RCPT: mailbox full, greylisting).
    Retried like any transient error, but it says nothing about the provider's health, so it does not
    count against the circuit breaker."""


class PermanentDeliveryError(DeliveryError):
    pass


@dataclass(frozen=True)
class OutgoingEmail:
    notification_id: str
    correlation_id: str
    to: str
    subject: str
    body: str
    html_body: str = ""


@dataclass(frozen=True)
class OutgoingPush:
    notification_id: str
    correlation_id: str
    device_id: int
    token: str
    platform: str
    title: str
    body: str
    image_url: str = ""
    link: str = ""
    data: dict[str, str] = field(default_factory=dict)
    # A browser's Web Push subscription ({"endpoint", "keys"}), for devices reached through Web Push.
    subscription: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """How the device is reached (DEVICE_KINDS): `web_push` or `fcm`."""
        return DEVICE_KIND_WEB_PUSH if self.subscription else DEVICE_KIND_FCM


@dataclass(frozen=True)
class SendResult:
    message_id: str = ""
    # None when the provider accepted the message.
    error: DeliveryError | None = None
    # The provider says the push token is gone or invalid: the device must be deactivated.
    token_invalid: bool = False


class EmailProvider(Protocol):
    # Names the provider in breakers, metrics and logs (e.g. "smtp", "sendgrid").
    name: str

    def send(self, messages: Sequence[OutgoingEmail]) -> Iterable[SendResult]:
        """One result per message, in order, each produced once that message was sent."""
        ...

    def close(self) -> None:
        """Closes kept connections (after a fork, or when settings change)."""
        ...


class PushProvider(Protocol):
    name: str
    # The device kinds it delivers (`fcm`, `web_push`); each push goes to the first provider of the list
    # that delivers its kind. A provider without the attribute delivers `fcm` tokens.
    device_kinds: frozenset[str]

    def send(self, messages: Sequence[OutgoingPush]) -> Iterable[SendResult]:
        """One result per message, in order. Raises TransientDeliveryError when nothing could be tried."""
        ...

    def close(self) -> None: ...
