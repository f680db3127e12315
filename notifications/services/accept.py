"""The request path: validate, check idempotency, write the notification and its outbox entry in one
transaction, answer. Never waits for the broker or for delivery."""

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, connection

from notifications.channels import Channel, Lane
from notifications.metrics import notification_accepted
from notifications.models import Notification, NotificationStatus, OutboxEntry
from notifications.services.lanes import lane_for
from notifications.services.preferences import NO_PUSH_DEVICE, channel_disabled_reason
from notifications.services.schedule import NOW, Schedule, schedule_hash_part, schedule_of
from notifier.api.errors import ApplicationError
from notifier.cache import CACHE_ERRORS
from templates_app.languages import language_default
from templates_app.rendering import template_variables_missing
from templates_app.selectors import TEMPLATE_GENERATION_KEY, template_version_resolve
from users.selectors import UNREAD, devices_active_for_user, user_profile_cache_key, user_profile_get

logger = logging.getLogger(__name__)

IDEMPOTENCY_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class AcceptResult:
    notification: Notification
    created: bool


def send_hash(fields: dict[str, Any], **recipients: Any) -> str:
    """What makes two sends the same request: the fields every send has, request_id aside, and whom it
    goes to (`recipients`: a single send's user_id, a broadcast's topic and user_ids)."""
    canonical = json.dumps(
        {
            **recipients,
            "notification_type": fields["notification_type"],
            "template_code": fields["template_code"],
            "variables": fields["variables"],
            "priority": fields["priority"],
            "language": fields.get("language") or "",
            "metadata": fields.get("metadata") or {},
            # Only when given, so a send without them hashes as it did before they existed.
            **schedule_hash_part(fields),
            **({"lane": fields["lane"]} if fields.get("lane") else {}),
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def request_hash_of(fields: dict[str, Any]) -> str:
    """A single send's hash (see `send_hash`)."""
    return send_hash(fields, user_id=str(fields["user_id"]))


def idempotency_key(caller: str, request_id: str) -> str:
    digest = hashlib.sha256(f"{caller}\x00{request_id}".encode()).hexdigest()
    return f"idempotency:{digest}"


# The refusals of a send, one definition each for the single and the batch send.


def conflict_error(notification_id: object) -> ApplicationError:
    return ApplicationError(
        "This request_id was already used with a different body.",
        code="idempotency_conflict",
        status=409,
        data={"notification_id": str(notification_id)},
    )


def no_such_user_error() -> ApplicationError:
    return ApplicationError(
        "No such user.", code="validation_error", status=400, data={"user_id": ["No such user."]}
    )


def template_error(exc: ApplicationError) -> ApplicationError:
    """A template that does not resolve, as an invalid field of the send."""
    return ApplicationError(
        exc.message, code="validation_error", status=400, data={"template_code": [exc.message]}
    )


def missing_variables_error(missing: list[str]) -> ApplicationError:
    return ApplicationError(
        "Missing template variables: " + ", ".join(missing),
        code="missing_variables",
        status=400,
        data={"variables": [f"Missing: {', '.join(missing)}"], "missing": missing},
    )


def skip_reason_for(*, channel: str, preferences: dict[str, bool], has_device: bool) -> str:
    """Why a valid send is written `skipped` instead of queued, or ""."""
    disabled = channel_disabled_reason(channel=channel, preferences=preferences)
    if disabled:
        return disabled
    return NO_PUSH_DEVICE if channel == Channel.PUSH and not has_device else ""


def reader_language(
    *,
    reads: str,
    code: str,
    notification_type: str,
    variables: dict[str, Any],
    generation: str | None = None,
) -> str:
    """The language a send that names none is written in for its recipient: the one they read, when the
    template exists in it (or in its base language: pt for pt-BR) with every variable the send gives;
    else "" (the default language)."""
    if not reads:
        return ""
    try:
        version = template_version_resolve(
            code=code, notification_type=notification_type, language=reads, generation=generation
        )
    except ApplicationError:
        return ""
    # The resolver falls back to the default language: that is not the template "in" the reader's.
    default = language_default()
    in_language = version.template.language != default or reads.split("-")[0] == default.split("-")[0]
    return (
        reads if in_language and not template_variables_missing(version=version, variables=variables) else ""
    )


def _repeat_of(existing: Notification, request_hash: str) -> AcceptResult:
    if existing.request_hash != request_hash:
        raise conflict_error(existing.id)
    return AcceptResult(notification=existing, created=False)


def _remember(key: str, notification_id: uuid.UUID) -> None:
    try:
        cache.add(key, str(notification_id), timeout=IDEMPOTENCY_TTL_SECONDS)  # SET NX EX
    except CACHE_ERRORS as exc:
        logger.warning("idempotency cache unavailable", extra={"error": repr(exc)})


@dataclass(frozen=True)
class NewNotification:
    """A notification to write: its id, a single send's validated fields, their hash, why it is skipped,
    and when it goes out."""

    id: uuid.UUID
    fields: dict[str, Any]
    request_hash: str
    skip_reason: str = ""
    schedule: Schedule = NOW
    lane: Lane = Lane.NORMAL


# One statement, one round trip: the notifications from one JSON parameter (an array of rows: one string
# to send, where arrays per column cost a quoting pass per element), ON CONFLICT DO NOTHING leaving out a
# request_id that a concurrent request took meanwhile, and the outbox entries of those written and not
# skipped, due at once or at their send_at; it answers the ids written and their statuses. A send_at
# still ahead by the database's clock makes the notification `scheduled`.
_INSERT = f"""
WITH written AS (
    INSERT INTO {Notification._meta.db_table}
        (id, caller, request_id, request_hash, user_id, notification_type, template_code, language,
         variables, metadata, priority, correlation_id, status, error, attempts, transient_failures,
         claimed_by, provider_message_id, delivered_device_ids, created_at, updated_at, broadcast_id,
         send_at, expires_at, lane)
    SELECT u.id, %(caller)s, u.request_id, u.request_hash, u.user_id, u.notification_type,
           u.template_code, u.language, u.variables, u.metadata, u.priority, %(correlation_id)s,
           CASE WHEN u.status = %(pending)s AND u.send_at > now() THEN %(scheduled)s ELSE u.status END,
           u.error, 0, 0, '', '', '[]'::jsonb, now(), now(), %(broadcast_id)s, u.send_at, u.expires_at,
           u.lane
      FROM jsonb_to_recordset(%(rows)s::jsonb)
           AS u(id uuid, request_id text, request_hash text, user_id uuid, notification_type text,
                template_code text, language text, variables jsonb, metadata jsonb, priority int,
                status text, error text, send_at timestamptz, expires_at timestamptz, lane text)
    ON CONFLICT (caller, request_id) DO NOTHING
    RETURNING id, status, send_at, lane
), outbox AS (
    INSERT INTO {OutboxEntry._meta.db_table} (notification_id, created_at, available_at, publish_attempts,
                                              last_error, lane)
    SELECT id, now(), GREATEST(send_at, now()), 0, '', lane
      FROM written WHERE status IN (%(pending)s, %(scheduled)s)
)
SELECT id, status FROM written
"""  # noqa: S608 - table names come from the models, values are parameters


def notifications_write(
    *,
    caller: str,
    correlation_id: str,
    rows: list[NewNotification],
    broadcast_id: uuid.UUID | None = None,
) -> dict[uuid.UUID, str]:
    """Writes notifications and the outbox entries of those not skipped, in one statement (so in one
    transaction); answers the ids written, with their statuses. A request_id the caller used before is
    left out, not an error; a user that no longer exists fails the statement (IntegrityError), writing
    nothing. `broadcast_id`: the broadcast they are recipients' parts of."""
    records = [
        {
            "id": str(row.id),
            "request_id": row.fields["request_id"],
            "request_hash": row.request_hash,
            "user_id": str(row.fields["user_id"]),
            "notification_type": row.fields["notification_type"],
            "template_code": row.fields["template_code"],
            "language": row.fields.get("language") or "",
            "variables": row.fields["variables"],
            "metadata": row.fields.get("metadata") or {},
            "priority": row.fields.get("priority", 5),
            "status": NotificationStatus.SKIPPED.value
            if row.skip_reason
            else NotificationStatus.PENDING.value,
            "error": row.skip_reason,
            "send_at": row.schedule.send_at.isoformat() if row.schedule.send_at else None,
            "expires_at": row.schedule.expires_at.isoformat() if row.schedule.expires_at else None,
            "lane": row.lane.value,
        }
        for row in rows
    ]
    parameters: dict[str, Any] = {
        "rows": json.dumps(records, separators=(",", ":")),
        "caller": caller,
        "correlation_id": correlation_id,
        "pending": NotificationStatus.PENDING.value,
        "scheduled": NotificationStatus.SCHEDULED.value,
        "broadcast_id": str(broadcast_id) if broadcast_id else None,
    }
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, parameters)
        return {row[0]: row[1] for row in cursor.fetchall()}


def notification_accept(
    *,
    caller: str,
    request_id: str,
    notification_type: str,
    user_id: uuid.UUID,
    template_code: str,
    variables: dict[str, Any],
    priority: int = 5,
    language: str | None = None,
    metadata: dict[str, Any] | None = None,
    correlation_id: str = "",
    send_at: datetime | None = None,
    expires_at: datetime | None = None,
    ttl_seconds: int | None = None,
    lane: str | None = None,
) -> AcceptResult:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "notification_type": notification_type,
        "user_id": user_id,
        "template_code": template_code,
        "variables": variables,
        "priority": priority,
        "language": language,
        "metadata": metadata or {},
        "send_at": send_at,
        "expires_at": expires_at,
        "ttl_seconds": ttl_seconds,
        "lane": lane,
    }
    request_hash = request_hash_of(fields)
    key = idempotency_key(caller, request_id)
    # One round trip for the idempotency fast path, the recipient's profile and the templates' generation.
    profile_key = user_profile_cache_key(user_id)
    try:
        cached = cache.get_many([key, profile_key, TEMPLATE_GENERATION_KEY])
    except CACHE_ERRORS as exc:
        logger.warning("cache unavailable on the accept path", extra={"error": repr(exc)})
        cached = None
    if cached is not None and cached.get(key):
        existing = Notification.objects.filter(pk=cached[key]).first()
        if existing is not None:
            return _repeat_of(existing, request_hash)

    profile = user_profile_get(
        user_id=user_id, cached=cached.get(profile_key) if cached is not None else UNREAD
    )
    if profile is None or not profile.is_active:
        raise no_such_user_error()
    generation = cached.get(TEMPLATE_GENERATION_KEY) if cached is not None else None
    if language is None and profile.language:
        language = (
            reader_language(
                reads=profile.language,
                code=template_code,
                notification_type=notification_type,
                variables=variables,
                generation=generation,
            )
            or None
        )
        fields["language"] = language  # written as the notification's; the request's hash is taken
    try:
        version = template_version_resolve(
            code=template_code,
            notification_type=notification_type,
            language=language,
            generation=generation,
        )
    except ApplicationError as exc:
        raise template_error(exc) from exc
    missing = template_variables_missing(version=version, variables=variables)
    if missing:
        raise missing_variables_error(missing)
    schedule = schedule_of(fields)

    skip_reason = skip_reason_for(
        channel=notification_type,
        preferences=profile.preferences,
        has_device=notification_type != Channel.PUSH or bool(devices_active_for_user(user_id=profile.id)),
    )
    chosen_lane = lane_for(priority=priority, lane=lane, default=Lane.NORMAL)
    new = NewNotification(uuid.uuid4(), fields, request_hash, skip_reason, schedule, chosen_lane)
    try:
        written = notifications_write(caller=caller, correlation_id=correlation_id, rows=[new])
    except IntegrityError:
        raise no_such_user_error() from None  # deleted since its profile was read
    if not written:
        # A concurrent or earlier request with this request_id won; answer with its notification.
        existing = Notification.objects.filter(caller=caller, request_id=request_id).first()
        if existing is None:
            raise ApplicationError("Please retry.", code="conflict", status=409)
        _remember(key, existing.id)
        return _repeat_of(existing, request_hash)

    status = NotificationStatus(written[new.id])
    notification = Notification(
        id=new.id,
        caller=caller,
        request_id=request_id,
        request_hash=request_hash,
        user_id=profile.id,
        notification_type=notification_type,
        template_code=template_code,
        language=language or "",
        variables=variables,
        metadata=fields["metadata"],
        priority=priority,
        correlation_id=correlation_id,
        status=status,
        error=skip_reason,
        send_at=schedule.send_at,
        expires_at=schedule.expires_at,
        lane=chosen_lane,
    )
    _remember(key, notification.id)
    notification_accepted(channel=notification_type, status=status)
    logger.info("notification accepted", extra={"notification_id": str(notification.id), "status": status})
    return AcceptResult(notification=notification, created=True)
