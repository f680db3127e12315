"""The request path: validate, check idempotency, write the notification and its outbox entry in one
transaction, answer. Never waits for the broker or for delivery."""

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction

from notifications.metrics import notification_accepted
from notifications.models import Notification, NotificationStatus, OutboxEntry
from notifications.services.preferences import NO_PUSH_DEVICE, channel_disabled_reason
from notifier.api.errors import ApplicationError
from notifier.cache import CACHE_ERRORS
from templates_app.rendering import template_variables_missing
from templates_app.selectors import template_version_resolve
from users.selectors import devices_active_for_user, user_profile_get

logger = logging.getLogger(__name__)

IDEMPOTENCY_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class AcceptResult:
    notification: Notification
    created: bool


def request_hash_of(fields: dict[str, Any]) -> str:
    """What makes two sends the same request: a single send's validated fields, request_id aside."""
    canonical = json.dumps(
        {
            "notification_type": fields["notification_type"],
            "user_id": str(fields["user_id"]),
            "template_code": fields["template_code"],
            "variables": fields["variables"],
            "priority": fields["priority"],
            "language": fields.get("language") or "",
            "metadata": fields.get("metadata") or {},
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key(caller: str, request_id: str) -> str:
    digest = hashlib.sha256(f"{caller}\x00{request_id}".encode()).hexdigest()
    return f"idempotency:{digest}"


def _repeat_of(existing: Notification, request_hash: str) -> AcceptResult:
    if existing.request_hash != request_hash:
        raise ApplicationError(
            "This request_id was already used with a different body.",
            code="idempotency_conflict",
            status=409,
            data={"notification_id": str(existing.id)},
        )
    return AcceptResult(notification=existing, created=False)


def _cached_repeat(key: str, request_hash: str) -> AcceptResult | None:
    """The Redis fast path. Redis may forget (flush, restart): the unique constraint is the guarantee."""
    try:
        remembered = cache.get(key)
    except CACHE_ERRORS as exc:
        logger.warning("idempotency cache unavailable", extra={"error": repr(exc)})
        return None
    if not remembered:
        return None
    existing = Notification.objects.filter(pk=remembered).first()
    return _repeat_of(existing, request_hash) if existing else None


def _remember(key: str, notification_id: uuid.UUID) -> None:
    try:
        cache.add(key, str(notification_id), timeout=IDEMPOTENCY_TTL_SECONDS)  # SET NX EX
    except CACHE_ERRORS as exc:
        logger.warning("idempotency cache unavailable", extra={"error": repr(exc)})


def _no_such_user() -> ApplicationError:
    return ApplicationError(
        "No such user.", code="validation_error", status=400, data={"user_id": ["No such user."]}
    )


def _skip_reason(*, notification_type: str, user_id: uuid.UUID, preferences: dict[str, bool]) -> str:
    disabled = channel_disabled_reason(channel=notification_type, preferences=preferences)
    if disabled:
        return disabled
    if notification_type == "push" and not devices_active_for_user(user_id=user_id):
        return NO_PUSH_DEVICE
    return ""


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
) -> AcceptResult:
    metadata = metadata or {}
    request_hash = request_hash_of(
        {
            "notification_type": notification_type,
            "user_id": user_id,
            "template_code": template_code,
            "variables": variables,
            "priority": priority,
            "language": language,
            "metadata": metadata,
        }
    )
    key = idempotency_key(caller, request_id)
    repeat = _cached_repeat(key, request_hash)
    if repeat is not None:
        return repeat

    profile = user_profile_get(user_id=user_id)
    if profile is None or not profile.is_active:
        raise _no_such_user()
    try:
        version = template_version_resolve(
            code=template_code, notification_type=notification_type, language=language
        )
    except ApplicationError as exc:
        raise ApplicationError(
            exc.message, code="validation_error", status=400, data={"template_code": [exc.message]}
        ) from exc
    missing = template_variables_missing(version=version, variables=variables)
    if missing:
        raise ApplicationError(
            "Missing template variables: " + ", ".join(missing),
            code="missing_variables",
            status=400,
            data={"variables": [f"Missing: {', '.join(missing)}"], "missing": missing},
        )

    skip_reason = _skip_reason(
        notification_type=notification_type, user_id=profile.id, preferences=profile.preferences
    )
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                caller=caller,
                request_id=request_id,
                request_hash=request_hash,
                user_id=profile.id,
                notification_type=notification_type,
                template_code=template_code,
                language=language or "",
                variables=variables,
                metadata=metadata,
                priority=priority,
                correlation_id=correlation_id,
                status=NotificationStatus.SKIPPED if skip_reason else NotificationStatus.PENDING,
                error=skip_reason,
            )
            if not skip_reason:
                # The relay publishes it; the request never waits for the broker.
                OutboxEntry.objects.create(notification=notification)
    except IntegrityError:
        # A concurrent or earlier request with this request_id won; answer with its notification.
        existing = Notification.objects.filter(caller=caller, request_id=request_id).first()
        if existing is None:
            if user_profile_get(user_id=profile.id) is None:  # the user was deleted meanwhile
                raise _no_such_user() from None
            raise
        _remember(key, existing.id)
        return _repeat_of(existing, request_hash)

    _remember(key, notification.id)
    notification_accepted(channel=notification_type, status=notification.status)
    logger.info(
        "notification accepted",
        extra={"notification_id": str(notification.id), "status": notification.status},
    )
    return AcceptResult(notification=notification, created=True)
