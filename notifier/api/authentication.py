"""Service callers authenticate with `X-API-Key`; the key is hashed at rest and revocable."""

from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import KeyParser


class APIKeyAuthentication(BaseAuthentication):
    """Sets `request.auth` to the APIKey; the user stays anonymous (a service is not a person)."""

    key_parser = KeyParser()

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        key = self.key_parser.get(request._request)
        if not key:
            return None
        try:
            api_key = APIKey.objects.get_from_key(key)
        except APIKey.DoesNotExist:
            raise AuthenticationFailed("Invalid or revoked API key.") from None
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
