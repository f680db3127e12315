"""The admin's login, limited like the API's: the same per-account and per-address counters in Redis, the
same lockout message, and 429 with Retry-After while locked out."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse

from users.services import LoginRateLimitedError, auth_attempt_count, auth_attempt_succeeded


class RateLimitedAdminAuthenticationForm(AdminAuthenticationForm):
    retry_after: int | None = None

    def clean(self) -> dict[str, Any]:
        email = self.cleaned_data.get("username") or ""
        address = (self.request.META.get("REMOTE_ADDR") if self.request else None) or "unknown"
        try:
            auth_attempt_count(email=email, client_address=address)
        except LoginRateLimitedError as exc:
            self.retry_after = exc.retry_after
            raise forms.ValidationError(exc.message, code="rate_limited") from exc
        cleaned = super().clean()
        auth_attempt_succeeded(email=email)
        return cleaned


def admin_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    """admin.site.login with the limited form; a locked-out attempt answers 429 with Retry-After."""
    response = admin.site.login(request, extra_context)
    form = getattr(response, "context_data", {}).get("form") if hasattr(response, "context_data") else None
    if isinstance(form, RateLimitedAdminAuthenticationForm) and form.retry_after is not None:
        response.status_code = 429
        response["Retry-After"] = str(form.retry_after)
    return response


admin.site.login_form = RateLimitedAdminAuthenticationForm
