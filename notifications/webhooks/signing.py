"""Standard Webhooks signatures (https://www.standardwebhooks.com), with the `standardwebhooks` package, so
any of its libraries verifies them. During a secret's grace period both secrets sign (space-separated)."""

import base64
import json
import secrets
from datetime import datetime
from typing import Any

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def webhook_secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_body(payload: Any) -> str:
    """The exact bytes signed and sent (compact JSON)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def webhook_headers(*, message_id: str, body: str, at: datetime, secrets_: list[str]) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets_ if secret)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }
