"""Routes under /api/v1/users/."""

import uuid

from django.urls import URLPattern, path, register_converter

from users.apis import (
    UserDetailApi,
    UserDeviceDetailApi,
    UserDevicesApi,
    UserListCreateApi,
    UserPreferencesApi,
    UserTopicDetailApi,
    UserTopicsApi,
)
from users.models import DEVICE_TOKEN_ALPHABET, DEVICE_TOKEN_MAX_LENGTH


class DeviceTokenConverter:
    """FCM tokens hold ':' and '-'; anything outside the token alphabet is not a route (404)."""

    regex = rf"[{DEVICE_TOKEN_ALPHABET}]{{1,{DEVICE_TOKEN_MAX_LENGTH}}}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class AnyCaseUUIDConverter:
    """A UUID in either case (Django's `uuid` converter takes lower case only: upper case was a 404)."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_url(self, value: uuid.UUID | str) -> str:
        return str(value)


register_converter(DeviceTokenConverter, "device_token")
register_converter(AnyCaseUUIDConverter, "any_uuid")

urlpatterns: list[URLPattern] = [
    path("", UserListCreateApi.as_view(), name="user-list"),
    path("<any_uuid:user_id>", UserDetailApi.as_view(), name="user-detail"),
    path("<any_uuid:user_id>/preferences", UserPreferencesApi.as_view(), name="user-preferences"),
    path("<any_uuid:user_id>/devices", UserDevicesApi.as_view(), name="user-devices"),
    path("<any_uuid:user_id>/topics", UserTopicsApi.as_view(), name="user-topics"),
    path("<any_uuid:user_id>/topics/<slug:key>", UserTopicDetailApi.as_view(), name="user-topic-detail"),
    path(
        "<any_uuid:user_id>/devices/<device_token:token>",
        UserDeviceDetailApi.as_view(),
        name="user-device-detail",
    ),
]
