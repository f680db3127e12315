"""Users, their channel preferences, and their push devices."""

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import MaxLengthValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower

from notifications.channels import Channel


def default_preferences() -> dict[str, bool]:
    """Every channel on; the keys are the channels'."""
    return {channel.value: True for channel in Channel}


# FCM and APNs tokens are ~64-200 characters of this alphabet. The column is wider, but a PostgreSQL
# btree index entry cannot exceed ~2.7 kB, so longer values are refused before they reach the database.
DEVICE_TOKEN_MAX_LENGTH = 1024
# How a device is reached; push providers say which kinds they deliver (providers.base).
DEVICE_KIND_FCM = "fcm"
DEVICE_KIND_WEB_PUSH = "web_push"
WEB_PUSH_TOKEN_PREFIX = "webpush:"  # noqa: S105 - a prefix, not a secret
DEVICE_TOKEN_ALPHABET = r"A-Za-z0-9_:\-"  # noqa: S105 - a character class, not a secret
device_token_format_validator = RegexValidator(
    rf"\A[{DEVICE_TOKEN_ALPHABET}]+\Z", "A device token holds only letters, digits, '_', ':' and '-'."
)
device_token_validators: list[Callable[[Any], None]] = [
    MaxLengthValidator(DEVICE_TOKEN_MAX_LENGTH),
    device_token_format_validator,
]


class UserManager(BaseUserManager["User"]):
    """Used by `createsuperuser` and the admin; the API goes through users.services."""

    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> "User":
        user = self.model(email=email.strip().lower(), **fields)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> "User":
        fields.setdefault("name", email.split("@")[0])
        return self.create_user(email, password, is_staff=True, is_superuser=True, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=150)
    # Stored lower-cased; the functional unique constraint below is the guarantee.
    email = models.EmailField(max_length=254, unique=True)
    preferences = models.JSONField(default=default_preferences)
    # The language the user reads (a BCP 47 tag such as "de" or "pt-BR"); a send that names none uses it
    # when its template exists in it. "": the default language.
    language = models.CharField(max_length=16, blank=True, default="")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(Lower("email"), name="users_user_email_ci_unique")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Device(models.Model):
    class Platform(models.TextChoices):
        ANDROID = "android"
        IOS = "ios"
        WEB = "web"

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="devices")
    token = models.CharField(max_length=4096, unique=True, validators=device_token_validators)
    platform = models.CharField(max_length=16, choices=Platform.choices)
    # A browser's Push API subscription ({"endpoint", "keys": {"p256dh", "auth"}}), sent through Web Push
    # (VAPID) instead of FCM; its token is then `webpush:` + a digest of the endpoint.
    subscription = models.JSONField(null=True, blank=True)
    active = models.BooleanField(default=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "active"], name="users_device_user_active")]

    def __str__(self) -> str:
        return f"{self.platform} device of {self.user_id}"

    @property
    def kind(self) -> str:
        """How it is reached: `web_push` (a browser subscription) or `fcm` (a token)."""
        return DEVICE_KIND_WEB_PUSH if self.subscription else DEVICE_KIND_FCM


class APIKeyUse(models.Model):
    """When an API key last authenticated a request, to within API_KEY_CACHE_SECONDS: a process writes
    it when it verifies the key against the database, not on every request."""

    api_key = models.OneToOneField(
        "rest_framework_api_key.APIKey", on_delete=models.CASCADE, primary_key=True, related_name="use"
    )
    last_used_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.api_key_id} last used {self.last_used_at}"
