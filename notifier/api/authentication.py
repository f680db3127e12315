"""Service callers authenticate with `X-API-Key`; the key is hashed at rest and revocable."""

import hashlib
import logging
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError
from django.utils.module_loading import import_string
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_api_key.models import AbstractAPIKey, APIKey
from rest_framework_api_key.permissions import KeyParser
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import Token

# A key verified in the last few seconds is trusted without a query: every service request carries
# one. Revoking a key therefore takes effect within API_KEY_CACHE_SECONDS. Keyed by a digest of the
# whole key, so only a caller holding the exact key benefits from the entry.
_verified: dict[str, tuple[float, AbstractAPIKey]] = {}
_VERIFIED_MAX = 1024
logger = logging.getLogger(__name__)


def _valid_key(key: str) -> AbstractAPIKey:
    digest = hashlib.sha256(key.encode()).hexdigest()
    now = time.monotonic()
    cached = _verified.get(digest)
    if cached is not None and cached[0] > now:
        return cached[1]
    try:
        api_key = APIKey.objects.get_from_key(key)
    except APIKey.DoesNotExist:
        _verified.pop(digest, None)
        raise AuthenticationFailed("Invalid or revoked API key.") from None
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[digest] = (now + settings.API_KEY_CACHE_SECONDS, api_key)
    _used(api_key)
    return api_key


def _used(api_key: AbstractAPIKey) -> None:
    """Its "last used", at most once per API_KEY_CACHE_SECONDS per process; a failed write does not
    refuse the request it came with."""
    try:
        import_string(settings.API_KEY_USED_HOOK)(api_key_id=api_key.pk)
    except DatabaseError as exc:
        logger.warning("recording an API key's use failed", extra={"error": repr(exc)})


class APIKeyAuthentication(BaseAuthentication):
    """Sets `request.auth` to the APIKey; the user stays anonymous (a service is not a person)."""

    key_parser = KeyParser()

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        key = self.key_parser.get(request._request)
        if not key:
            return None
        api_key = _valid_key(key)
        if api_key.has_expired:
            raise AuthenticationFailed("This API key has expired.")
        return AnonymousUser(), api_key

    def authenticate_header(self, request: Request) -> str:
        return "X-API-Key"


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes `X-API-Key` in the OpenAPI schema (registered by being defined)."""

    target_class = APIKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "X-API-Key"}


class UserJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication (signature, expiry, the password-change claim), where a token whose
    user id is not an id at all is refused with 401 like any other bad token (the lookup would raise)."""

    def get_user(self, validated_token: Token) -> Any:
        try:
            return super().get_user(validated_token)
        except (DjangoValidationError, ValueError, TypeError) as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc


class UserJWTAuthenticationScheme(OpenApiAuthenticationExtension):
    """The bearer token in the OpenAPI schema, as drf-spectacular describes simplejwt's own class."""

    target_class = UserJWTAuthentication
    name = "jwtAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
