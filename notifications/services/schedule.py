"""When a send goes out and until when it is worth sending: `send_at`, and `expires_at` or `ttl_seconds`.
One definition for the single, the batch and the broadcast send."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from notifier.api.errors import ApplicationError

# The optional fields of a send that say when; the request's hash includes those given.
SCHEDULE_FIELDS = ("send_at", "expires_at", "ttl_seconds")


@dataclass(frozen=True)
class Schedule:
    """`send_at`: a time still ahead (None: now). `expires_at`: the send's own expiry (None: the default,
    DELIVERY_DEADLINE_SECONDS after it is due)."""

    send_at: datetime | None = None
    expires_at: datetime | None = None


NOW = Schedule()


def schedule_resolve(
    *,
    send_at: datetime | None = None,
    expires_at: datetime | None = None,
    ttl_seconds: int | None = None,
    now: datetime | None = None,
) -> Schedule:
    """The schedule a send asks for. A send_at in the past means now; ttl_seconds counts from when the
    send is due. Raises a validation error naming the fields otherwise."""
    now = now or timezone.now()
    limit = timedelta(days=settings.SCHEDULE_MAX_DAYS)
    errors: dict[str, list[str]] = {}
    if expires_at is not None and ttl_seconds is not None:
        errors["ttl_seconds"] = ["Give expires_at or ttl_seconds, not both."]
    if send_at is not None and send_at > now + limit:
        errors["send_at"] = [f"At most SCHEDULE_MAX_DAYS ({settings.SCHEDULE_MAX_DAYS}) days ahead."]
    due = send_at if send_at is not None and send_at > now else now
    if ttl_seconds is not None and not errors:
        expires_at = due + timedelta(seconds=ttl_seconds)
    if expires_at is not None and not errors:
        field = "ttl_seconds" if ttl_seconds is not None else "expires_at"
        if expires_at <= due:
            errors[field] = ["Must end after the send is due (send_at, or now)."]
        elif expires_at > due + limit:
            errors[field] = [
                f"At most SCHEDULE_MAX_DAYS ({settings.SCHEDULE_MAX_DAYS}) days after the send is due."
            ]
    if errors:
        raise ApplicationError("Invalid input.", code="validation_error", status=400, data=errors)
    return Schedule(send_at=due if due > now else None, expires_at=expires_at)


def schedule_of(fields: dict[str, Any], *, now: datetime | None = None) -> Schedule:
    """`schedule_resolve` for a send's validated fields."""
    if not any(fields.get(name) is not None for name in SCHEDULE_FIELDS):
        return NOW
    return schedule_resolve(**{name: fields.get(name) for name in SCHEDULE_FIELDS}, now=now)


def schedule_hash_part(fields: dict[str, Any]) -> dict[str, Any]:
    """The schedule fields a send gave, as the request's hash takes them (times in UTC)."""
    part: dict[str, Any] = {}
    for name in SCHEDULE_FIELDS:
        value = fields.get(name)
        if isinstance(value, datetime):
            part[name] = value.astimezone(UTC).isoformat()
        elif value is not None:
            part[name] = value
    return part
