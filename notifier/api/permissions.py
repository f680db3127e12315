"""Who may call what.

- A service (API key) reads every user, and writes (changes, deletes, manages the devices of) ordinary
  recipients only: a staff or superuser account does not exist for its writes (404).
- A staff user reads every user, and writes ordinary recipients and their own account.
- A superuser writes every account.
- A user reads and writes only their own account.
Nobody grants `is_staff` or `is_superuser` through the API: those fields are read-only.
"""

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


def is_superuser(request: Request) -> bool:
    user = request.user
    return not is_service(request) and bool(user and user.is_authenticated and user.is_superuser)


def is_self(request: Request, target: Any) -> bool:
    """The caller is the person `target` (a user's token, never an API key)."""
    user = request.user
    return not is_service(request) and bool(user and user.is_authenticated and user.pk == target.pk)


def may_write_account(request: Request, target: Any) -> bool:
    """Whether the caller may change or delete the account `target` (see the module's rules)."""
    if is_self(request, target) or is_superuser(request):
        return True
    if target.is_staff or target.is_superuser:
        return False
    return is_privileged(request)


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
