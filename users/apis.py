"""Users, preferences and devices under /api/v1/users/, and login/refresh under /api/v1/auth/.

API keys and staff read every user; a user's token reaches only that user (anyone else's id is a 404,
so ids cannot be probed). Writes follow `notifier.api.permissions.may_write_account`: an account the
caller may not change is a 404 for that write. Views parse input, call one service or selector, and
shape the output.
"""

import uuid
from dataclasses import asdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.selectors import user_topic_list
from notifications.serializers import UserTopicSerializer
from notifications.services.topics import topic_leave
from notifier.api import examples as ex
from notifier.api.examples import examples
from notifier.api.pagination import PAGE_QUERY_PARAMETERS, paginated_response
from notifier.api.permissions import (
    IsAuthenticatedCaller,
    IsServiceOrStaff,
    is_privileged,
    is_self,
    may_write_account,
)
from notifier.api.schema import DELETED_RESPONSE, error_codes
from notifier.api.validation import query_params_of, validated_body
from users.models import User
from users.selectors import device_list, preferences_normalized, user_get, user_list
from users.serializers import (
    DeviceInputSerializer,
    DeviceOutputSerializer,
    LoginInputSerializer,
    PreferencesOutputSerializer,
    PreferencesSerializer,
    RefreshInputSerializer,
    StrictEmailField,
    TokenPairOutputSerializer,
    UserCreateInputSerializer,
    UserOutputSerializer,
    UserUpdateInputSerializer,
)
from users.services import (
    LoginRateLimitedError,
    auth_login,
    auth_refresh,
    device_delete,
    device_register,
    user_create,
    user_credentials_change_authorize,
    user_delete,
    user_preferences_update,
    user_update,
)

USERS_TAG = "users"
DEVICES_TAG = "devices"
AUTH_TAG = "auth"
TOPICS_TAG = "topics"


def _user_for_caller(request: Request, user_id: uuid.UUID, *, write: bool = False) -> User:
    """The user `user_id` if the caller may reach them (for a write: may change them); otherwise 404,
    whether or not they exist."""
    if not is_privileged(request) and request.user.pk != user_id:
        raise NotFound()
    user = user_get(user_id=user_id)
    if user is None or (write and not may_write_account(request, user)):
        raise NotFound()
    return user


class UserListFilterSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254, required=False)


class UserListCreateApi(APIView):
    permission_classes = [IsServiceOrStaff]

    @extend_schema(
        operation_id="listUsers",
        description=(
            "Users, oldest first, 20 a page; `email` finds one by address (case-insensitive). API keys "
            "and staff see every user; API keys do not see staff accounts."
        ),
        examples=examples(response=[ex.USER]),
        summary="List users (API key or staff)",
        tags=[USERS_TAG],
        parameters=[
            *PAGE_QUERY_PARAMETERS,
            OpenApiParameter("email", OpenApiTypes.EMAIL, description="Exact address, case-insensitive."),
        ],
        responses={200: UserOutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        filters = UserListFilterSerializer(data=query_params_of(request))
        filters.is_valid(raise_exception=True)
        email = filters.validated_data.get("email") or None
        return paginated_response(request, self, user_list(email=email), UserOutputSerializer)

    @extend_schema(
        operation_id="createUser",
        extensions=error_codes("conflict"),
        examples=examples(request=ex.USER_CREATE_REQUEST, response=ex.USER_CREATED, status=201),
        summary="Create a user (API key or staff)",
        description=(
            "Creates the user and, when `push_token` is given, registers that device (platform android "
            "unless given). The email is stored lower-cased and is unique regardless of case (409)."
        ),
        tags=[USERS_TAG],
        request=UserCreateInputSerializer,
        responses={201: UserOutputSerializer, 409: OpenApiResponse(description="Email already in use")},
    )
    def post(self, request: Request) -> Response:
        data = validated_body(UserCreateInputSerializer, request)
        user = user_create(**data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class UserDetailApi(APIView):
    permission_classes = [IsAuthenticatedCaller]

    @extend_schema(
        operation_id="getUser",
        description=(
            "A user with their preferences and push devices. A user's own token reads only themselves; "
            "a user the caller may not reach is 404, whether or not it exists."
        ),
        examples=examples(response=ex.USER),
        summary="Get a user",
        tags=[USERS_TAG],
        responses={200: UserOutputSerializer},
    )
    def get(self, request: Request, user_id: uuid.UUID) -> Response:
        return Response(UserOutputSerializer(_user_for_caller(request, user_id)).data)

    @extend_schema(
        operation_id="updateUser",
        extensions=error_codes("conflict"),
        examples=examples(
            request=ex.USER_UPDATE_REQUEST,
            response={**ex.USER, "name": "Ada King", "preferences": ex.PREFERENCES},
        ),
        summary="Change a user's name, email, password or preferences",
        description=(
            "Only the fields given change. `id`, `is_staff`, `is_superuser` and timestamps are read-only. "
            "A user changing their own `email` or `password` must give `current_password` (wrong "
            "attempts count against the login limit); API keys and staff managing a recipient need not. "
            "A new password ends every session of the user at once: access tokens issued before it are "
            "refused, and refresh tokens stop working. API keys change ordinary recipients only; staff "
            "and superuser accounts are changed by a superuser (or their owner) and are 404 otherwise."
        ),
        tags=[USERS_TAG],
        request=UserUpdateInputSerializer,
        responses={200: UserOutputSerializer, 409: OpenApiResponse(description="Email already in use")},
    )
    def patch(self, request: Request, user_id: uuid.UUID) -> Response:
        user = _user_for_caller(request, user_id, write=True)
        data = validated_body(UserUpdateInputSerializer, request)
        current_password = data.pop("current_password", None)
        if is_self(request, user):
            user_credentials_change_authorize(
                user=user,
                changes=data,
                current_password=current_password,
                client_address=request.META.get("REMOTE_ADDR") or "unknown",
            )
        user = user_update(user=user, **data)
        return Response(UserOutputSerializer(user).data)

    @extend_schema(
        operation_id="deleteUser",
        description=(
            "Deletes the user with their devices and topic subscriptions. Staff and superuser accounts "
            "are deleted by a superuser only (404 otherwise)."
        ),
        summary="Delete a user and their devices",
        tags=[USERS_TAG],
        responses={200: DELETED_RESPONSE},
    )
    def delete(self, request: Request, user_id: uuid.UUID) -> Response:
        user_delete(user=_user_for_caller(request, user_id, write=True))
        return Response(None)


class UserPreferencesApi(APIView):
    permission_classes = [IsAuthenticatedCaller]

    @extend_schema(
        operation_id="getUserPreferences",
        description=(
            "Whether the user takes email and push notifications; a send on a channel they turned "
            "off ends `skipped`."
        ),
        examples=examples(response=ex.PREFERENCES),
        summary="Get a user's channel preferences",
        tags=[USERS_TAG],
        responses={200: PreferencesOutputSerializer},
    )
    def get(self, request: Request, user_id: uuid.UUID) -> Response:
        user = _user_for_caller(request, user_id)
        return Response(preferences_normalized(user.preferences))

    @extend_schema(
        operation_id="updateUserPreferences",
        examples=examples(request={"push": False}, response=ex.PREFERENCES),
        summary="Change a user's channel preferences",
        description="`{email?: bool, push?: bool}`: the channels given change, the other stays.",
        tags=[USERS_TAG],
        request=PreferencesSerializer,
        responses={200: PreferencesOutputSerializer},
    )
    def patch(self, request: Request, user_id: uuid.UUID) -> Response:
        user = _user_for_caller(request, user_id, write=True)
        preferences = validated_body(PreferencesSerializer, request)
        user = user_preferences_update(user=user, preferences=preferences)
        return Response(preferences_normalized(user.preferences))


class UserDevicesApi(APIView):
    permission_classes = [IsAuthenticatedCaller]

    @extend_schema(
        operation_id="listUserDevices",
        description=(
            "The user's push devices (FCM tokens and Web Push subscriptions), 20 a page; a device that "
            "FCM or the push service reported gone is `active: false`."
        ),
        examples=examples(response=[ex.DEVICE]),
        summary="List a user's push devices",
        tags=[DEVICES_TAG],
        parameters=PAGE_QUERY_PARAMETERS,
        responses={200: DeviceOutputSerializer(many=True)},
    )
    def get(self, request: Request, user_id: uuid.UUID) -> Response:
        user = _user_for_caller(request, user_id)
        return paginated_response(request, self, device_list(user=user), DeviceOutputSerializer)

    @extend_schema(
        operation_id="registerDevice",
        examples=examples(request=ex.DEVICE_REQUEST, response=ex.DEVICE, status=201, repeat_status=200),
        summary="Register a push device",
        description=(
            "201 when the token is new. 200 when it was already registered: it is reactivated, its "
            "platform and last_seen updated, and, if another user held it, it moves to this user. A browser "
            "registers its Push API subscription instead of a token (platform web): pushes reach it through "
            "Web Push with this installation's VAPID key (GET /api/v1/web-push/vapid-public-key)."
        ),
        tags=[DEVICES_TAG],
        request=DeviceInputSerializer,
        responses={201: DeviceOutputSerializer, 200: DeviceOutputSerializer},
    )
    def post(self, request: Request, user_id: uuid.UUID) -> Response:
        user = _user_for_caller(request, user_id, write=True)
        data = validated_body(DeviceInputSerializer, request)
        subscription = data.get("subscription")
        device, created = device_register(
            user=user,
            token=data.get("token", ""),
            platform=data["platform"],
            subscription=(
                {"endpoint": subscription["endpoint"], "keys": dict(subscription["keys"])}
                if subscription
                else None
            ),
        )
        http_status = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(DeviceOutputSerializer(device).data, status=http_status)


class UserDeviceDetailApi(APIView):
    permission_classes = [IsAuthenticatedCaller]

    @extend_schema(
        operation_id="removeDevice",
        description=("Removes the device from the user; pushes no longer go to it."),
        summary="Remove a push device",
        tags=[DEVICES_TAG],
        parameters=[
            OpenApiParameter(
                "token", OpenApiTypes.STR, OpenApiParameter.PATH, description="The device's push token."
            )
        ],
        responses={200: DELETED_RESPONSE},
    )
    def delete(self, request: Request, user_id: uuid.UUID, token: str) -> Response:
        device_delete(user=_user_for_caller(request, user_id, write=True), token=token)
        return Response(None)


class UserTopicsApi(APIView):
    permission_classes = [IsAuthenticatedCaller]

    @extend_schema(
        operation_id="listUserTopics",
        description=("The topics the user is subscribed to, with when, 20 a page."),
        examples=examples(response=[ex.USER_TOPIC]),
        summary="The topics a user is subscribed to",
        tags=[TOPICS_TAG],
        parameters=PAGE_QUERY_PARAMETERS,
        responses=UserTopicSerializer(many=True),
    )
    def get(self, request: Request, user_id: uuid.UUID) -> Response:
        user = _user_for_caller(request, user_id)
        return paginated_response(request, self, user_topic_list(user_id=user.id), UserTopicSerializer)


class UserTopicDetailApi(APIView):
    permission_classes = [IsAuthenticatedCaller]

    @extend_schema(
        operation_id="leaveTopic",
        summary="Leave a topic",
        description="A user's own token may; 404 when the user is not subscribed to it.",
        tags=[TOPICS_TAG],
        responses={200: DELETED_RESPONSE},
    )
    def delete(self, request: Request, user_id: uuid.UUID, key: str) -> Response:
        topic_leave(user=_user_for_caller(request, user_id, write=True), key=key)
        return Response(None)


class LoginApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="logIn",
        extensions=error_codes("invalid_credentials", "rate_limited", "service_unavailable"),
        examples=examples(request=ex.LOGIN_REQUEST, response=ex.TOKEN_PAIR),
        summary="Log in with email and password",
        description=(
            "Returns an access token (send it as `Authorization: Bearer ...`) and a refresh token. "
            "Attempts are limited per account and per client address (429 with Retry-After); a "
            "successful login resets the account's count."
        ),
        tags=[AUTH_TAG],
        request=LoginInputSerializer,
        responses={
            200: TokenPairOutputSerializer,
            401: OpenApiResponse(description="Invalid credentials"),
            429: OpenApiResponse(description="Too many attempts; see Retry-After"),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = validated_body(LoginInputSerializer, request)
        try:
            pair = auth_login(
                email=data["email"],
                password=data["password"],
                client_address=request.META.get("REMOTE_ADDR") or "unknown",
            )
        except LoginRateLimitedError as exc:  # DRF's Throttled carries Retry-After to the response
            raise Throttled(wait=exc.retry_after, detail=exc.message) from exc
        return Response(asdict(pair))


class RefreshApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="refreshToken",
        extensions=error_codes("invalid_token", "service_unavailable"),
        examples=examples(request=ex.REFRESH_REQUEST, response=ex.TOKEN_PAIR),
        summary="Exchange a refresh token for a new pair",
        description="Refresh tokens rotate: each works once; a used, expired or invalid one is a 401.",
        tags=[AUTH_TAG],
        request=RefreshInputSerializer,
        responses={200: TokenPairOutputSerializer, 401: OpenApiResponse(description="Token refused")},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = validated_body(RefreshInputSerializer, request)
        return Response(asdict(auth_refresh(refresh_token=data["refresh_token"])))
