"""Routes under /api/v1/auth/."""

from django.urls import URLPattern, path

from users.apis import LoginApi, RefreshApi

urlpatterns: list[URLPattern] = [
    path("login", LoginApi.as_view(), name="auth-login"),
    path("refresh", RefreshApi.as_view(), name="auth-refresh"),
]
