"""Writes of the users app: accounts, channel preferences, push devices, and login/refresh tokens.

Every write runs in one transaction, so a failure leaves nothing half-written, and every change to what
the delivery pipeline reads (name, email, preferences, is_active, language) drops the cached profile.
"""

import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from py_vapid.utils import b64urldecode, b64urlencode
from rest_framework_api_key.models import APIKey
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from notifier.api.errors import ApplicationError
from notifier.api.ratelimit import rate_limit_hit, rate_limit_reset
from notifier.cache import CACHE_ERRORS
from notifier.outbound import OutboundPolicy, OutboundRefused, outbound_url_check
from templates_app.languages import language_is_valid, language_normalize
from users.models import (
    WEB_PUSH_TOKEN_PREFIX,
    APIKeyUse,
    Device,
    User,
    default_preferences,
    device_token_validators,
)
from users.selectors import user_profile_invalidate

logger = logging.getLogger(__name__)

PREFERENCE_CHANNELS = tuple(default_preferences())
DEVICE_PLATFORM_DEFAULT = Device.Platform.ANDROID


# --- validation shared by the services, the API and the admin -------------------------------------------


def email_normalize(email: str) -> str:
    return email.strip().lower()


def preferences_validate(value: Any, *, partial: bool) -> dict[str, bool]:
    """`{email: bool, push: bool}` exactly; with `partial`, any non-empty subset of those keys."""
    if not isinstance(value, dict):
        raise ApplicationError(
            "Invalid input: preferences must be an object.",
            code="validation_error",
            data={"preferences": ["Must be an object with the keys email and push."]},
        )
    errors: dict[str, list[str]] = {}
    for key in value:
        if key not in PREFERENCE_CHANNELS:
            errors[str(key)] = ["Unknown preference; the preferences are email and push."]
    for channel in PREFERENCE_CHANNELS:
        if channel not in value:
            if not partial:
                errors[channel] = ["This field is required."]
        elif not isinstance(value[channel], bool):
            errors[channel] = ["Must be a boolean (true or false)."]
    if not value and partial:
        errors["non_field_errors"] = ["Give at least one of email and push."]
    if errors:
        first = next(iter(errors.values()))[0]
        raise ApplicationError(f"Invalid input: {first}", code="validation_error", data=errors)
    return {channel: value[channel] for channel in PREFERENCE_CHANNELS if channel in value}


def _validation_error(field: str, messages: list[str]) -> ApplicationError:
    return ApplicationError(f"Invalid input: {messages[0]}", code="validation_error", data={field: messages})


def _email_conflict() -> ApplicationError:
    return ApplicationError(
        "A user with this email already exists.",
        code="conflict",
        status=409,
        data={"email": ["A user with this email already exists."]},
    )


def _fields_validate(*, user: User) -> None:
    """Model field rules (lengths, email syntax, blank name); uniqueness is checked separately (409)."""
    try:
        user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        errors = exc.message_dict
        first = next(iter(errors.values()))[0]
        raise ApplicationError(f"Invalid input: {first}", code="validation_error", data=errors) from exc


def _password_set(*, user: User, password: str) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise _validation_error("password", list(exc.messages)) from exc
    user.set_password(password)


def _email_taken(*, email: str, exclude_user_id: uuid.UUID | None = None) -> bool:
    users = User.objects.filter(email__iexact=email)
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
    return users.exists()


def _profile_changed(*, user_id: uuid.UUID) -> None:
    """Drops the cached profile now and again after commit, so no reader re-caches the old row."""
    user_profile_invalidate(user_id=user_id)
    transaction.on_commit(lambda: user_profile_invalidate(user_id=user_id))


def _refresh_tokens_revoke(*, user_id: uuid.UUID) -> int:
    """Blacklists every refresh token the user still holds (their sessions end at the next refresh)."""
    outstanding = OutstandingToken.objects.filter(
        user_id=user_id, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    revoked = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(revoked)


# --- users -------------------------------------------------------------------------------------------------

CREDENTIAL_FIELDS = ("email", "password")


def user_credentials_change_authorize(
    *, user: User, changes: dict[str, Any], current_password: str | None, client_address: str
) -> None:
    """A user changing their own email or password proves it with `current_password`.

    A stolen access token alone must not take the account over. Wrong guesses count against the same
    per-account and per-address limits as a login (429 past them).
    """
    if not any(changes.get(field) is not None for field in CREDENTIAL_FIELDS):
        return
    if current_password is None:
        raise _validation_error(
            "current_password", ["Give your current password to change your email or password."]
        )
    auth_attempt_count(email=user.email, client_address=client_address)
    if not user.check_password(current_password):
        logger.info("credential change refused", extra={"user_id": str(user.pk)})
        raise _validation_error("current_password", ["The current password is wrong."])


def language_validate(language: str) -> str:
    """A BCP 47 tag in its usual case ("pt-BR"), or "" for the default language."""
    if language == "":
        return ""
    normalized = language_normalize(language=language)
    if not language_is_valid(language=normalized):
        raise _validation_error("language", ["A language tag such as en, de or pt-BR."])
    return normalized


def user_create(
    *,
    name: str,
    email: str,
    password: str,
    preferences: dict[str, bool] | None = None,
    language: str = "",
    push_token: str | None = None,
    platform: str | None = None,
    user_id: uuid.UUID | None = None,
) -> User:
    """Creates a user (and, given `push_token`, their first device) in one transaction. `user_id` is for
    the demo seed's known id; otherwise a random one is made."""
    merged_preferences = default_preferences()
    if preferences is not None:
        merged_preferences.update(preferences_validate(preferences, partial=True))
    user = User(
        **({"id": user_id} if user_id else {}),
        name=name,
        email=email_normalize(email),
        preferences=merged_preferences,
        language=language_validate(language),
    )
    _fields_validate(user=user)
    _password_set(user=user, password=password)
    if push_token is not None:
        _device_fields_validate(token=push_token, platform=platform or DEVICE_PLATFORM_DEFAULT)

    with transaction.atomic():
        if _email_taken(email=user.email):
            raise _email_conflict()
        try:
            with transaction.atomic():
                user.save(force_insert=True)
        except IntegrityError as exc:  # a concurrent request created the same address first
            raise _email_conflict() from exc
        if push_token is not None:
            device_register(user=user, token=push_token, platform=platform or DEVICE_PLATFORM_DEFAULT)
        _profile_changed(user_id=user.id)
    logger.info("user created", extra={"user_id": str(user.id)})
    return user


def user_update(
    *,
    user: User,
    name: str | None = None,
    email: str | None = None,
    password: str | None = None,
    preferences: dict[str, bool] | None = None,
    language: str | None = None,
) -> User:
    """Changes what is given and nothing else. A new password ends the user's other sessions.

    The row is locked and re-read, so concurrent partial updates do not undo each other.
    """
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        changed: list[str] = []
        if name is not None:
            locked.name = name
            changed.append("name")
        if email is not None:
            locked.email = email_normalize(email)
            changed.append("email")
        if preferences is not None:
            locked.preferences = {
                **default_preferences(),
                **(locked.preferences if isinstance(locked.preferences, dict) else {}),
                **preferences_validate(preferences, partial=True),
            }
            changed.append("preferences")
        if language is not None:
            locked.language = language_validate(language)
            changed.append("language")
        _fields_validate(user=locked)
        if email is not None and _email_taken(email=locked.email, exclude_user_id=locked.pk):
            raise _email_conflict()
        if password is not None:
            _password_set(user=locked, password=password)
            changed.append("password")
        if not changed:
            return locked
        try:
            with transaction.atomic():
                locked.save(update_fields=[*changed, "updated_at"])
        except IntegrityError as exc:
            raise _email_conflict() from exc
        if password is not None:
            _refresh_tokens_revoke(user_id=locked.pk)
        _profile_changed(user_id=locked.pk)
    return locked


def user_preferences_update(*, user: User, preferences: dict[str, bool]) -> User:
    """Sets the channels given (`{email?: bool, push?: bool}`), keeping the others."""
    preferences_validate(preferences, partial=True)
    return user_update(user=user, preferences=preferences)


def user_delete(*, user: User) -> None:
    """Deletes the user and their devices; their tokens stop working (the user no longer exists)."""
    user_id = user.pk
    with transaction.atomic():
        # Lock the user, then their notifications, before the cascade reads what to delete: a
        # notification being accepted, or an attempt being recorded, holds a key-share lock on its parent
        # row, so these wait for it to commit (and see it) and block new ones until the delete commits.
        # Without them, a row added mid-cascade made the delete fail on its foreign key.
        locked = User.objects.select_for_update().filter(pk=user_id).first()
        if locked is None:
            return
        list(locked.notifications.select_for_update().values_list("pk", flat=True))
        _refresh_tokens_revoke(user_id=user_id)
        User.objects.filter(pk=user_id).delete()
        _profile_changed(user_id=user_id)
    logger.info("user deleted", extra={"user_id": str(user_id)})


# --- devices -----------------------------------------------------------------------------------------------


def _device_fields_validate(*, token: str, platform: str) -> None:
    errors: dict[str, list[str]] = {}
    if not token:
        errors["token"] = ["This field may not be blank."]
    else:
        for validator in device_token_validators:
            try:
                validator(token)
            except DjangoValidationError as exc:
                errors.setdefault("token", []).extend(exc.messages)
    if platform not in Device.Platform.values:
        errors["platform"] = [f"Must be one of: {', '.join(Device.Platform.values)}."]
    if errors:
        first = next(iter(errors.values()))[0]
        raise ApplicationError(f"Invalid input: {first}", code="validation_error", data=errors)


WEB_PUSH_ENDPOINT_MAX_LENGTH = 2048


def web_push_policy() -> OutboundPolicy:
    """What Web Push requests may reach (push services' URLs come from browsers), from settings."""
    return OutboundPolicy(
        allow_http=settings.WEB_PUSH_ALLOW_HTTP,
        allow_private=settings.WEB_PUSH_ALLOW_PRIVATE,
        connect_timeout=min(3.0, settings.WEB_PUSH_TIMEOUT_SECONDS),
        timeout=settings.WEB_PUSH_TIMEOUT_SECONDS,
        max_body=4096,
    )


def _b64url_bytes(value: Any) -> bytes | None:
    """A subscription key's bytes, or None when it is not short unpadded base64url."""
    if not isinstance(value, str) or not value or len(value) > 200 or not value.isascii():
        return None
    try:
        return b64urldecode(value.encode())
    except ValueError:  # binascii.Error is one
        return None


def web_push_subscription_check(subscription: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A browser's Push API subscription, checked: its device token (`webpush:` + a digest of the
    endpoint, so registering it again finds the same device) and the subscription as stored.

    The endpoint is the browser's push service: https only, and no private or loopback address (the
    workers will call it), unless WEB_PUSH_ALLOW_HTTP / WEB_PUSH_ALLOW_PRIVATE allow it."""
    endpoint = subscription.get("endpoint")
    keys = subscription.get("keys") or {}
    errors: dict[str, list[str]] = {}
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > WEB_PUSH_ENDPOINT_MAX_LENGTH:
        errors["subscription.endpoint"] = [f"A URL of at most {WEB_PUSH_ENDPOINT_MAX_LENGTH} characters."]
    else:
        try:
            outbound_url_check(endpoint, policy=web_push_policy())
        except OutboundRefused as exc:
            errors["subscription.endpoint"] = [f"This push service URL is refused: {exc.reason}."]
    p256dh = _b64url_bytes(keys.get("p256dh")) if isinstance(keys, dict) else None
    auth = _b64url_bytes(keys.get("auth")) if isinstance(keys, dict) else None
    if p256dh is None or len(p256dh) != 65 or p256dh[0] != 4:
        errors["subscription.keys.p256dh"] = ["The browser's P-256 public key (base64url, 65 bytes)."]
    if auth is None or len(auth) != 16:
        errors["subscription.keys.auth"] = ["The browser's auth secret (base64url, 16 bytes)."]
    if errors:
        first = next(iter(errors.values()))[0]
        raise ApplicationError(f"Invalid subscription: {first}", code="validation_error", data=errors)
    assert isinstance(endpoint, str) and isinstance(keys, dict)
    digest = b64urlencode(hashlib.sha256(endpoint.encode()).digest())
    stored = {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}
    return WEB_PUSH_TOKEN_PREFIX + digest, stored


def device_register(
    *, user: User, token: str = "", platform: str, subscription: dict[str, Any] | None = None
) -> tuple[Device, bool]:
    """Registers `token` for `user`, or a browser's Web Push `subscription` (platform web); returns the
    device and whether a new row was created.

    Tokens are unique: a token already registered (to this or another user, say after a phone changed
    hands or accounts) moves to `user`, is reactivated and marked seen now. So does a subscription
    registered again (its token derives from its endpoint), with its keys renewed.
    """
    if subscription is not None:
        if platform != Device.Platform.WEB:
            raise ApplicationError(
                "A Web Push subscription is a web device: give platform web.",
                code="validation_error",
                data={"platform": ["A subscription needs platform web."]},
            )
        token, subscription = web_push_subscription_check(subscription)
    _device_fields_validate(token=token, platform=platform)
    now = timezone.now()
    with transaction.atomic():
        device = Device.objects.select_for_update().filter(token=token).first()
        if device is None:
            try:
                with transaction.atomic():
                    device = Device.objects.create(
                        user=user, token=token, platform=platform, active=True, last_seen=now,
                        subscription=subscription,
                    )  # fmt: skip
                return device, True
            except IntegrityError:  # registered concurrently: take the existing row
                device = Device.objects.select_for_update().get(token=token)
        previous_user_id = device.user_id
        device.user = user
        device.platform = platform
        device.active = True
        device.last_seen = now
        device.subscription = subscription
        device.save(update_fields=["user", "platform", "active", "last_seen", "subscription"])
    if previous_user_id != user.pk:
        logger.info(
            "device moved to another user",
            extra={"device_id": device.pk, "from_user_id": str(previous_user_id), "to_user_id": str(user.pk)},
        )
    return device, False


def device_delete(*, user: User, token: str) -> None:
    deleted, _ = Device.objects.filter(user=user, token=token).delete()
    if not deleted:
        raise ApplicationError("No such device.", code="not_found", status=404)


def devices_deactivate(*, tokens: list[str], reason: str) -> int:
    """Stops pushing to tokens the provider says are gone, in one transaction; returns how many active
    devices were deactivated (a token already inactive, or unknown, counts for nothing)."""
    with transaction.atomic():
        deactivated = list(
            Device.objects.select_for_update()
            .filter(token__in=tokens, active=True)
            .values_list("id", "user_id")
        )
        Device.objects.filter(id__in=[device_id for device_id, _ in deactivated]).update(active=False)
    for device_id, user_id in deactivated:
        logger.info(
            "device deactivated", extra={"device_id": device_id, "user_id": str(user_id), "reason": reason}
        )
    return len(deactivated)


# --- authentication ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret


class LoginRateLimitedError(ApplicationError):
    """Too many login attempts for an account or from an address; `retry_after` is in seconds."""

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(
            "Too many login attempts; try again later.",
            code="rate_limited",
            status=429,
            data={"retry_after": retry_after},
        )
        self.retry_after = retry_after


def _invalid_credentials() -> ApplicationError:
    return ApplicationError("Invalid email or password.", code="invalid_credentials", status=401)


def _refresh_refused() -> ApplicationError:
    return ApplicationError(
        "The refresh token is invalid, expired or already used.", code="invalid_token", status=401
    )


def _token_pair(refresh: RefreshToken) -> TokenPair:
    return TokenPair(
        access_token=str(refresh.access_token),
        refresh_token=str(refresh),
        expires_in=int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    )


def _login_rate_limit_hit(*, key: str, limit: int) -> None:
    """Counts an attempt; a Redis outage lets logins through (Argon2 still slows guessing) and is logged."""
    try:
        result = rate_limit_hit(key=key, limit=limit, window_seconds=settings.LOGIN_RATE_LIMIT_WINDOW_SECONDS)
    except CACHE_ERRORS as exc:
        logger.error("login rate limit unavailable; attempt not counted", extra={"error": str(exc)})
        return
    if not result.allowed:
        raise LoginRateLimitedError(retry_after=result.retry_after)


def _login_account_key(email: str) -> str:
    # Hashed so that Redis keys hold no addresses.
    return "login:account:" + hashlib.sha256(email.encode()).hexdigest()


def auth_attempt_count(*, email: str, client_address: str) -> None:
    """Counts a login attempt (API or admin) against its address and its account; raises
    LoginRateLimitedError past either limit. Both ways in share the counters."""
    _login_rate_limit_hit(key=f"login:address:{client_address}", limit=settings.LOGIN_RATE_LIMIT_PER_ADDRESS)
    _login_rate_limit_hit(
        key=_login_account_key(email_normalize(email)), limit=settings.LOGIN_RATE_LIMIT_PER_ACCOUNT
    )


def auth_attempt_succeeded(*, email: str) -> None:
    """A right password resets the account's count, so an owner is not locked out by their own typos."""
    try:
        rate_limit_reset(key=_login_account_key(email_normalize(email)))
    except CACHE_ERRORS as exc:
        logger.error("login rate limit unavailable; counter not reset", extra={"error": str(exc)})


def auth_login(*, email: str, password: str, client_address: str) -> TokenPair:
    """Checks the credentials and issues an access/refresh pair.

    Attempts are counted per client address (every attempt) and per account (consecutive failures:
    a successful login resets the account's counter, so an owner who types the password right is not
    locked out by their own earlier typos). Inactive users are refused like wrong passwords.
    """
    email = email_normalize(email)
    auth_attempt_count(email=email, client_address=client_address)

    user = authenticate(email=email, password=password)
    if not isinstance(user, User) or not user.is_active:
        logger.info("login refused", extra={"client_address": client_address})
        raise _invalid_credentials()
    auth_attempt_succeeded(email=email)
    return _token_pair(RefreshToken.for_user(user))


def auth_refresh(*, refresh_token: str) -> TokenPair:
    """Exchanges a refresh token for a new pair. The old token is blacklisted: it works exactly once,
    even when two requests present it at the same moment (the blacklist row is the arbiter)."""
    try:
        refresh = RefreshToken(refresh_token)  # type: ignore[arg-type]  # signature, expiry, type, blacklist
    except TokenError as exc:
        raise _refresh_refused() from exc
    user_id = refresh.get(jwt_settings.USER_ID_CLAIM)
    try:
        user = User.objects.filter(pk=uuid.UUID(str(user_id)), is_active=True).first()
    except ValueError:
        user = None
    if user is None or refresh.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
        raise _refresh_refused()
    with transaction.atomic():
        # Every token we issue is recorded (RefreshToken.for_user); the row lock serialises concurrent use.
        jti = refresh[jwt_settings.JTI_CLAIM]
        outstanding = OutstandingToken.objects.order_by().select_for_update().filter(jti=jti).first()
        if outstanding is None:
            raise _refresh_refused()
        _, newly_blacklisted = BlacklistedToken.objects.get_or_create(token=outstanding)
        if not newly_blacklisted:
            raise _refresh_refused()
        return _token_pair(RefreshToken.for_user(user))


def api_key_used(*, api_key_id: str) -> None:
    """Records that the key authenticated a request now (one upsert)."""
    APIKeyUse.objects.bulk_create(
        [APIKeyUse(api_key_id=api_key_id, last_used_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["api_key"],
        update_fields=["last_used_at"],
    )


def api_key_revoke(*, api_key: APIKey) -> None:
    """Revokes the key; the API refuses it within API_KEY_CACHE_SECONDS (each process's verified keys)."""
    APIKey.objects.filter(pk=api_key.pk).update(revoked=True)
    logger.info("api key revoked", extra={"prefix": api_key.prefix})
