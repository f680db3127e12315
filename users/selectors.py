"""Reads of the users app. `user_profile_get` and `devices_active_for_user` serve the delivery pipeline."""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, QuerySet
from django.db.models.functions import Lower
from rest_framework_api_key.models import APIKey

from notifier.cache import CACHE_ERRORS
from users.models import Device, User, default_preferences

logger = logging.getLogger(__name__)

# What a broken or unreachable Redis raises through the Django cache API; anything else is a bug.


@dataclass(frozen=True)
class UserProfile:
    """What a worker needs to deliver to a user, without a database round trip per notification."""

    id: uuid.UUID
    name: str
    email: str
    preferences: dict[str, bool]
    is_active: bool
    language: str = ""


def user_profile_cache_key(user_id: uuid.UUID) -> str:
    """The cache key of a user's profile, for a caller that reads it with other keys in one round trip."""
    return f"user-profile:{user_id}"


# `user_profile_get(cached=...)` when the caller has not read the cache.
UNREAD = object()


def _uuid_or_none(value: uuid.UUID | str) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, AttributeError, TypeError):
        return None


def preferences_normalized(value: Any) -> dict[str, bool]:
    """The stored preferences with every channel present; a missing or odd value means the default."""
    preferences = default_preferences()
    if isinstance(value, dict):
        for channel in preferences:
            if isinstance(value.get(channel), bool):
                preferences[channel] = value[channel]
    return preferences


def _profile_of(user: User) -> UserProfile:
    return UserProfile(
        id=user.id,
        name=user.name,
        email=user.email,
        preferences=preferences_normalized(user.preferences),
        is_active=user.is_active,
        language=user.language,
    )


def _profile_to_cache(profile: UserProfile) -> dict[str, Any]:
    return {
        "id": str(profile.id),
        "name": profile.name,
        "email": profile.email,
        "preferences": dict(profile.preferences),
        "is_active": profile.is_active,
        "language": profile.language,
    }


def _profile_from_cache(value: Any) -> UserProfile | None:
    """A cached entry in an unexpected shape (an older release wrote it) counts as a miss."""
    try:
        return UserProfile(
            id=uuid.UUID(value["id"]),
            name=str(value["name"]),
            email=str(value["email"]),
            preferences=preferences_normalized(value["preferences"]),
            is_active=bool(value["is_active"]),
            language=str(value["language"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def user_profile_get(*, user_id: uuid.UUID | str, cached: Any = UNREAD) -> UserProfile | None:
    """The user's delivery profile from the cache, else the database; None when there is no such user.

    Misses are not cached, so a user created a moment ago is found at once. When Redis is unreachable
    the database answers: a cache outage slows delivery down but never stops it. `cached`: the value the
    caller already read under `user_profile_cache_key` (None for a miss), saving this read.
    """
    parsed_id = _uuid_or_none(user_id)
    if parsed_id is None:
        return None
    key = user_profile_cache_key(parsed_id)
    cache_available = True
    if cached is UNREAD:
        try:
            cached = cache.get(key)
        except CACHE_ERRORS as exc:
            logger.warning("user profile cache unavailable; reading the database", extra={"error": str(exc)})
            cached = None
            cache_available = False
    if cached is not None:
        profile = _profile_from_cache(cached)
        if profile is not None:
            return profile

    user = (
        User.objects.filter(pk=parsed_id)
        .only("id", "name", "email", "preferences", "is_active", "language")
        .first()
    )
    if user is None:
        return None
    profile = _profile_of(user)
    if cache_available:
        try:
            cache.set(key, _profile_to_cache(profile), timeout=settings.USER_PROFILE_CACHE_SECONDS)
        except CACHE_ERRORS as exc:
            logger.warning("user profile cache unavailable; not caching", extra={"error": str(exc)})
    return profile


def user_profiles_get(*, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, UserProfile]:
    """`user_profile_get` for many users in two round trips at most (one cache read of them all, one
    query for the misses); users that do not exist are absent from the answer."""
    wanted = list(dict.fromkeys(user_ids))
    keys = {user_profile_cache_key(user_id): user_id for user_id in wanted}
    try:
        cached = cache.get_many(list(keys))
        cache_available = True
    except CACHE_ERRORS as exc:
        logger.warning("user profile cache unavailable; reading the database", extra={"error": str(exc)})
        cached, cache_available = {}, False
    profiles: dict[uuid.UUID, UserProfile] = {}
    for key, value in cached.items():
        profile = _profile_from_cache(value)
        if profile is not None:
            profiles[keys[key]] = profile
    missing = [user_id for user_id in wanted if user_id not in profiles]
    if missing:
        found = {
            user.id: _profile_of(user)
            for user in User.objects.filter(pk__in=missing).only(
                "id", "name", "email", "preferences", "is_active", "language"
            )
        }
        profiles.update(found)
        if cache_available and found:
            try:
                cache.set_many(
                    {user_profile_cache_key(uid): _profile_to_cache(p) for uid, p in found.items()},
                    timeout=settings.USER_PROFILE_CACHE_SECONDS,
                )
            except CACHE_ERRORS as exc:
                logger.warning("user profile cache unavailable; not caching", extra={"error": str(exc)})
    return profiles


def user_profile_invalidate(*, user_id: uuid.UUID | str) -> None:
    """Drops the cached profile. A cache outage is logged, not raised: the write it follows has happened."""
    parsed_id = _uuid_or_none(user_id)
    if parsed_id is None:
        return
    try:
        cache.delete(user_profile_cache_key(parsed_id))
    except CACHE_ERRORS as exc:
        logger.warning(
            "user profile cache unavailable; could not invalidate",
            extra={"error": str(exc), "user_id": str(parsed_id)},
        )


def devices_active_for_user(*, user_id: uuid.UUID | str) -> list[Device]:
    """The user's active push devices, the most recently seen first."""
    parsed_id = _uuid_or_none(user_id)
    if parsed_id is None:
        return []
    return list(
        Device.objects.filter(user_id=parsed_id, active=True).order_by(
            F("last_seen").desc(nulls_last=True), "-created_at", "-id"
        )
    )


def devices_active_for_users(*, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Device]]:
    """`devices_active_for_user` for many users in one query."""
    devices: dict[uuid.UUID, list[Device]] = {user_id: [] for user_id in user_ids}
    for device in Device.objects.filter(user_id__in=list(devices), active=True).order_by(
        F("last_seen").desc(nulls_last=True), "-created_at", "-id"
    ):
        devices[device.user_id].append(device)
    return devices


def user_list(*, email: str | None = None) -> QuerySet[User]:
    """Every user, newest first; `email` filters by exact address, case-insensitively."""
    users = User.objects.prefetch_related("devices").order_by("-created_at", "id")
    if email is not None:
        users = users.alias(email_lower=Lower("email")).filter(email_lower=email.strip().lower())
    return users


def user_get(*, user_id: uuid.UUID | str) -> User | None:
    parsed_id = _uuid_or_none(user_id)
    if parsed_id is None:
        return None
    return User.objects.prefetch_related("devices").filter(pk=parsed_id).first()


def device_list(*, user: User) -> QuerySet[Device]:
    """All of a user's devices, active or not, newest first."""
    return Device.objects.filter(user=user).order_by("-created_at", "-id")


def device_get(*, user: User, token: str) -> Device | None:
    return Device.objects.filter(user=user, token=token).first()


def api_key_list() -> QuerySet[APIKey]:
    """The service callers' API keys, newest first (hashes only: a key itself is never stored)."""
    return APIKey.objects.select_related("use").order_by("-created")


def api_key_get(*, prefix: str) -> APIKey | None:
    return APIKey.objects.filter(prefix=prefix).first()
