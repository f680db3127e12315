"""Many notifications in one request (`POST /notifications/batch`): each item is exactly a single send's
body, with its own request_id and the single send's idempotency rules, and gets its own result, in order.

Set-based throughout: one query for the items already accepted, one cache read for the recipients'
profiles (one query for the misses), one query for push devices, one multi-row INSERT of the
notifications (ON CONFLICT DO NOTHING on (caller, request_id)) and one of their outbox entries in one
transaction, one Redis pipeline remembering the new ones for the single send's fast path. Valid items are
accepted even when others are not; an item is never half written (its notification and its outbox entry
are written in the same transaction, or neither is).
"""

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError
from django.utils import timezone
from django_redis import get_redis_connection
from rest_framework import serializers

from notifications.channels import Channel, Lane
from notifications.metrics import notification_accepted
from notifications.models import Notification
from notifications.serializers import notification_create_validate, notification_create_validator
from notifications.services.accept import (
    IDEMPOTENCY_TTL_SECONDS,
    NewNotification,
    conflict_error,
    idempotency_key,
    missing_variables_error,
    no_such_user_error,
    notifications_write,
    reader_language,
    request_hash_of,
    skip_reason_for,
    template_error,
)
from notifications.services.lanes import lane_for
from notifications.services.schedule import NOW, Schedule, schedule_of
from notifier.api.errors import ApplicationError
from notifier.cache import CACHE_ERRORS
from templates_app.models import TemplateVersion
from templates_app.rendering import template_variables_missing
from templates_app.selectors import template_generation_get, template_version_resolve
from users.models import User
from users.selectors import devices_active_for_users, user_profiles_get

logger = logging.getLogger(__name__)


@dataclass
class ItemResult:
    """One item's answer: what a single send would have answered for it."""

    index: int
    request_id: str | None
    http_status: int = 202
    notification_id: str | None = None
    status: str | None = None
    error: str | None = None
    message: str = "Accepted"
    data: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "request_id": self.request_id, "notification_id": self.notification_id,
            "status": self.status, "http_status": self.http_status, "error": self.error,
            "message": self.message, "data": self.data,
        }  # fmt: skip

    def refuse_with(self, error: ApplicationError) -> None:
        self.refuse(error.status, error.code, error.message, error.data)

    def refuse(self, status: int, error: str, message: str, data: dict[str, Any] | None = None) -> None:
        self.http_status, self.error, self.message, self.data = status, error, message, data


@dataclass
class _Item:
    result: ItemResult
    fields: dict[str, Any]
    request_hash: str
    # Set when the item is written: its notification's id and status.
    notification_id: uuid.UUID | None = None
    status: str = ""
    skip_reason: str = ""
    schedule: Schedule = NOW
    repeats: list["_Item"] = field(default_factory=list)


def _validated(raw: list[Any]) -> tuple[list[_Item], list[ItemResult]]:
    """Validates each item as a single send's body, with one serializer's fields for all of them."""
    validator = notification_create_validator()
    items: list[_Item] = []
    results: list[ItemResult] = []
    for index, body in enumerate(raw):
        request_id = body.get("request_id") if isinstance(body, dict) else None
        result = ItemResult(index=index, request_id=request_id if isinstance(request_id, str) else None)
        results.append(result)
        try:
            fields = notification_create_validate(body, validator)
        except serializers.ValidationError as exc:
            result.refuse(400, "validation_error", "Invalid input.", serializers.as_serializer_error(exc))
            continue
        items.append(_Item(result, fields, request_hash_of(fields)))
    return items, results


def _repeat(item: _Item, existing_id: str, existing_hash: str, existing_status: str) -> None:
    if existing_hash != item.request_hash:
        item.result.refuse_with(conflict_error(existing_id))
        return
    item.result.http_status, item.result.message = 200, "Already accepted"
    item.result.notification_id, item.result.status = existing_id, existing_status


def _answer_repeats_from_database(caller: str, items: list[_Item]) -> list[_Item]:
    """Answers the items whose request_id this caller used before (one query); returns the rest."""
    if not items:
        return []
    existing = {
        row["request_id"]: row
        for row in Notification.objects.filter(
            caller=caller, request_id__in=[item.fields["request_id"] for item in items]
        ).values("id", "request_id", "request_hash", "status")
    }
    fresh = []
    for item in items:
        row = existing.get(item.fields["request_id"])
        if row is None:
            fresh.append(item)
        else:
            _repeat(item, str(row["id"]), row["request_hash"], row["status"])
    return fresh


def _check(items: list[_Item]) -> list[_Item]:
    """The single send's checks, set-based: the user, the template and its variables, the skip reason."""
    profiles = user_profiles_get(user_ids=[item.fields["user_id"] for item in items])
    push_users = [
        item.fields["user_id"] for item in items if item.fields["notification_type"] == Channel.PUSH
    ]
    devices = devices_active_for_users(user_ids=push_users) if push_users else {}
    versions: dict[tuple[str, str, str | None], TemplateVersion | ApplicationError] = {}
    generation = template_generation_get()
    now = timezone.now()
    valid = []
    for item in items:
        fields = item.fields
        profile = profiles.get(fields["user_id"])
        if profile is None or not profile.is_active:
            item.result.refuse_with(no_such_user_error())
            continue
        try:
            item.schedule = schedule_of(fields, now=now)
        except ApplicationError as exc:
            item.result.refuse_with(exc)
            continue
        if fields.get("language") is None and profile.language:
            # Written as the notification's language; the request's hash is already taken.
            fields["language"] = (
                reader_language(
                    reads=profile.language,
                    code=fields["template_code"],
                    notification_type=fields["notification_type"],
                    variables=fields["variables"],
                    generation=generation,
                )
                or None
            )
        key = (fields["template_code"], fields["notification_type"], fields.get("language"))
        if key not in versions:
            try:
                versions[key] = template_version_resolve(
                    code=key[0], notification_type=key[1], language=key[2], generation=generation
                )
            except ApplicationError as exc:
                versions[key] = exc
        version = versions[key]
        if isinstance(version, ApplicationError):
            item.result.refuse_with(template_error(version))
            continue
        missing = template_variables_missing(version=version, variables=fields["variables"])
        if missing:
            item.result.refuse_with(missing_variables_error(missing))
            continue
        item.skip_reason = skip_reason_for(
            channel=fields["notification_type"],
            preferences=profile.preferences,
            has_device=bool(devices.get(fields["user_id"])),
        )
        valid.append(item)
    return valid


def _insert(caller: str, correlation_id: str, items: list[_Item]) -> dict[uuid.UUID, str]:
    rows = []
    for item in items:
        item.notification_id = uuid.uuid4()
        rows.append(
            NewNotification(
                item.notification_id,
                item.fields,
                item.request_hash,
                item.skip_reason,
                item.schedule,
                # A batch is bulk unless an item says otherwise (a lane, or an urgent priority).
                lane_for(priority=item.fields["priority"], lane=item.fields.get("lane"), default=Lane.BULK),
            )
        )
    written = notifications_write(caller=caller, correlation_id=correlation_id, rows=rows)
    for item in items:
        item.status = written.get(item.notification_id, "")  # type: ignore[arg-type]
    return written


def _insert_checked(
    caller: str, correlation_id: str, items: list[_Item]
) -> tuple[list[_Item], dict[uuid.UUID, str]]:
    """`_insert`; a user deleted since the check fails the statement: such items are refused, the rest
    written."""
    try:
        return items, _insert(caller, correlation_id, items)
    except IntegrityError:
        alive = set(
            User.objects.filter(
                id__in=[item.fields["user_id"] for item in items], is_active=True
            ).values_list("id", flat=True)
        )
        kept = []
        for item in items:
            if item.fields["user_id"] in alive:
                kept.append(item)
            else:
                item.result.refuse_with(no_such_user_error())
        return kept, _insert(caller, correlation_id, kept)


def _remember(caller: str, items: list[_Item]) -> None:
    """The single send's Redis fast path learns the new items, in one pipeline."""
    mapping = {
        idempotency_key(caller, item.fields["request_id"]): item.result.notification_id
        for item in items
        if item.result.http_status == 202
    }
    if not mapping:
        return
    try:
        # The keys and values exactly as `cache.add` writes them for the single send, in one pipeline
        # (django-redis's set_many costs ~70 µs a key here).
        client = get_redis_connection("default")
        pipeline = client.pipeline(transaction=False)
        for key, value in mapping.items():
            pipeline.set(cache.make_key(key), cache.client.encode(value), ex=IDEMPOTENCY_TTL_SECONDS)  # type: ignore[attr-defined]
        pipeline.execute()
    except CACHE_ERRORS as exc:
        logger.warning("idempotency cache unavailable", extra={"error": repr(exc)})


def notifications_accept_batch(
    *, caller: str, bodies: list[Any], correlation_id: str = ""
) -> list[ItemResult]:
    """One result per body, in order (see the module's docstring)."""
    items, results = _validated(bodies)
    # A request_id repeated inside the batch: its first item decides, the later ones are repeats of it.
    first: dict[str, _Item] = {}
    unique = []
    for item in items:
        earlier = first.get(item.fields["request_id"])
        if earlier is None:
            first[item.fields["request_id"]] = item
            unique.append(item)
        else:
            earlier.repeats.append(item)
    fresh = _check(_answer_repeats_from_database(caller, unique))
    written: dict[uuid.UUID, str] = {}
    if fresh:
        fresh, written = _insert_checked(caller, correlation_id, fresh)
    raced = []
    for item in fresh:
        if item.notification_id in written:
            item.result.notification_id, item.result.status = (
                str(item.notification_id),
                item.status,
            )
        else:
            raced.append(item)
    _answer_repeats_from_database(caller, raced)  # a concurrent request took these request_ids first
    for item in unique:
        for repeat in item.repeats:
            if item.result.notification_id is None:  # the first was refused: so is its repeat
                repeat.result.refuse(
                    item.result.http_status, item.result.error or "", item.result.message, item.result.data
                )
            else:
                _repeat(repeat, item.result.notification_id, item.request_hash, item.result.status or "")
    _remember(caller, fresh)
    accepted = Counter(
        (item.fields["notification_type"], item.result.status)
        for item in fresh
        if item.result.http_status == 202
    )
    for (channel, status), count in accepted.items():
        notification_accepted(channel=channel, status=str(status), amount=count)
    logger.info(
        "notifications accepted in a batch",
        extra={"items": len(results), "accepted": sum(accepted.values())},
    )
    return results
