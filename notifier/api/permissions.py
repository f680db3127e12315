"""Who may call what: services (API keys) and staff reach everything, a user reaches only their own."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework_api_key.models import APIKey


def is_service(request: Request) -> bool:
    return isinstance(request.auth, APIKey)


def is_privileged(request: Request) -> bool:
    """A service caller or a staff user: may reach every record."""
    user = request.user
    return is_service(request) or bool(user and user.is_authenticated and user.is_staff)


def is_authenticated(request: Request) -> bool:
    return is_service(request) or bool(request.user and request.user.is_authenticated)


class IsServiceOrStaff(BasePermission):
    message = "This endpoint is for API keys and staff."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_privileged(request)


class IsAuthenticatedCaller(BasePermission):
    """Any authenticated caller. Views scope querysets with `is_privileged` so others' records 404."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_authenticated(request)
