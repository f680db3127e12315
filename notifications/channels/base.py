"""What every channel adapter takes, returns and raises.

Adapters raise TransientDeliveryError for what may recover (timeouts, connection errors, SMTP 4xx,
FCM 429/5xx) and PermanentDeliveryError for what never will (a refused recipient, a dead token).
The delivery service retries the first and dead-letters the second.
"""

import re
from dataclasses import dataclass, field

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
    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


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


@dataclass(frozen=True)
class PushResult:
    device_id: int
    message_id: str = ""
    # None when the provider accepted the message for this device.
    error: DeliveryError | None = None
    # The provider says the token is gone or invalid: the device must be deactivated.
    token_invalid: bool = False
