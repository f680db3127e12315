"""The notification API: accept, follow, and provider status callbacks."""

import uuid
from collections import Counter
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.channels import Channel
from notifications.filters import NotificationFilter
from notifications.models import BroadcastStatus, Notification
from notifications.selectors import (
    broadcast_get,
    broadcast_list,
    broadcast_status_counts,
    notification_get,
    notification_queryset,
)
from notifications.serializers import (
    BroadcastAcceptedSerializer,
    BroadcastCreateSerializer,
    BroadcastDetailSerializer,
    BroadcastSerializer,
    NotificationAcceptedSerializer,
    NotificationBatchItemSerializer,
    NotificationBatchSerializer,
    NotificationCreateSerializer,
    NotificationDetailSerializer,
    NotificationSerializer,
    StatusCallbackSerializer,
    is_broadcast_body,
    notification_create_validate,
    notification_create_validator,
)
from notifications.services.accept import notification_accept
from notifications.services.accept_batch import notifications_accept_batch
from notifications.services.broadcast import broadcast_accept
from notifications.services.cancel import broadcast_cancel, notification_cancel
from notifications.services.status import notification_status_update
from notifier.api import examples as ex
from notifier.api.errors import ApplicationError
from notifier.api.examples import examples
from notifier.api.pagination import EnvelopePagination
from notifier.api.permissions import IsAuthenticatedCaller, IsServiceOrStaff, is_privileged, is_service
from notifier.api.schema import error_codes
from notifier.api.throttling import NotificationSendThrottle, send_rate_retry_after


def caller_of(request: Request) -> str:
    """The idempotency scope: the API key, or the staff user, that sent the request."""
    if is_service(request):
        return f"key:{request.auth.prefix}"  # type: ignore[union-attr]
    return f"user:{request.user.pk}"


def _accepted(data: dict[str, Any], *, created: bool) -> Response:
    """202 for a new send; 200 "Already accepted" for a repeat of an earlier one."""
    response = Response(data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)
    if not created:
        response.envelope_message = "Already accepted"  # type: ignore[attr-defined]
    return response


def _viewer_scope(request: Request) -> Any:
    return None if is_privileged(request) else request.user.pk


class NotificationListCreateApi(generics.ListAPIView):
    filterset_class = NotificationFilter
    serializer_class = NotificationSerializer
    throttle_classes = [NotificationSendThrottle]  # counts POSTs only

    def get_permissions(self) -> list[Any]:
        return [IsServiceOrStaff()] if self.request.method == "POST" else [IsAuthenticatedCaller()]

    def get_queryset(self) -> QuerySet[Notification]:
        return notification_queryset(user_id=_viewer_scope(self.request)).order_by("-created_at")

    @extend_schema(
        operation_id="listNotifications",
        description=(
            "Newest first, 20 a page, filtered by the query parameters (status, channel, user, time). "
            "A user's token lists only their own notifications."
        ),
        examples=examples(response=[ex.NOTIFICATION]),
        summary="List notifications (a user sees their own)",
        tags=["notifications"],
        responses=NotificationSerializer(many=True),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="sendNotification",
        extensions=error_codes("idempotency_conflict", "conflict", "missing_variables", "rate_limited"),
        examples=[
            *examples(request=ex.SEND_REQUEST, response=ex.SEND_ACCEPTED, status=202, repeat_status=200),
            OpenApiExample("Broadcast to a topic", value=ex.BROADCAST_REQUEST, request_only=True),
        ],
        summary="Send a notification to a user, a topic's subscribers, or a list of users",
        description=(
            "With `user_id`: one notification, answered with its id. With `topic` (a topic's key) or "
            "`user_ids` (up to BROADCAST_USER_IDS_MAX, 10,000) instead: a broadcast, answered with its "
            "id and recipient count at once; it is expanded into one notification per recipient in the "
            "background (follow it at /broadcasts/{broadcast_id}). Each recipient's preferences apply, "
            "and a broadcast that names no language reaches each recipient in the language they read "
            "when the template exists in it. Either way `request_id` makes the send idempotent for the "
            "caller (broadcasts and single sends each among their own), and the send counts once "
            "against the rate limit. Request ids starting with `broadcast:` are reserved."
        ),
        tags=["notifications"],
        request=PolymorphicProxySerializer(
            component_name="NotificationSend",
            serializers=[NotificationCreateSerializer, BroadcastCreateSerializer],
            resource_type_field_name=None,
        ),
        responses={
            202: PolymorphicProxySerializer(
                component_name="NotificationSendAccepted",
                serializers=[NotificationAcceptedSerializer, BroadcastAcceptedSerializer],
                resource_type_field_name=None,
            ),
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="NotificationSendRepeated",
                    serializers=[NotificationAcceptedSerializer, BroadcastAcceptedSerializer],
                    resource_type_field_name=None,
                ),
                description="A repeat of an earlier request",
            ),
            409: OpenApiResponse(description="The request_id was used with a different body"),
            413: OpenApiResponse(
                description="More than BROADCAST_USER_IDS_MAX user_ids, or too large a body"
            ),
            429: OpenApiResponse(description="Over NOTIFICATION_RATE_LIMIT_PER_MINUTE; see Retry-After"),
        },
    )
    def post(self, request: Request) -> Response:
        if is_broadcast_body(request.data):
            return self._broadcast(request)
        fields = notification_create_validate(request.data, notification_create_validator())
        result = notification_accept(
            caller=caller_of(request),
            correlation_id=getattr(request._request, "correlation_id", ""),
            **fields,
        )
        notification = result.notification
        return _accepted(
            {
                "notification_id": str(notification.id),
                "request_id": notification.request_id,
                "status": str(notification.status),
            },
            created=result.created,
        )

    def _broadcast(self, request: Request) -> Response:
        serializer = BroadcastCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = broadcast_accept(
            caller=caller_of(request),
            correlation_id=getattr(request._request, "correlation_id", ""),
            **serializer.validated_data,
        )
        broadcast = result.broadcast
        return _accepted(
            {
                "broadcast_id": str(broadcast.id),
                "request_id": broadcast.request_id,
                "recipients": broadcast.recipients,
                "status": str(broadcast.status),
            },
            created=result.created,
        )


BATCH_META = {
    "type": "object",
    "description": "How many items got each answer.",
    "properties": {
        name: {"type": "integer"} for name in ("total", "accepted", "repeated", "conflicts", "invalid")
    },
    "required": ["total", "accepted", "repeated", "conflicts", "invalid"],
}


class NotificationBatchApi(APIView):
    """POST /api/v1/notifications/batch: many single sends in one request, one result per item."""

    permission_classes = [IsServiceOrStaff]

    @extend_schema(
        operation_id="sendNotifications",
        examples=examples(request=ex.BATCH_REQUEST, response=ex.BATCH_ANSWER),
        summary="Send many notifications in one request: one result per item, in order",
        description=(
            "Each item is exactly a single send's body, with its own `request_id` and the single send's "
            "idempotency rules. Valid items are accepted even when others are invalid; an item is never "
            "half written. The rate limit counts the items. A request_id repeated within the request: "
            "the first item decides, the later ones are its repeats."
        ),
        tags=["notifications"],
        request=NotificationBatchSerializer,
        responses={
            200: NotificationBatchItemSerializer(many=True),
            413: OpenApiResponse(description="More than NOTIFICATION_BATCH_MAX items, or too large a body"),
            429: OpenApiResponse(description="Over NOTIFICATION_RATE_LIMIT_PER_MINUTE; see Retry-After"),
        },
        extensions={**error_codes("rate_limited"), "x-envelope-meta": BATCH_META},
    )
    def post(self, request: Request) -> Response:
        envelope = NotificationBatchSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        bodies = envelope.validated_data["notifications"]
        if len(bodies) > settings.NOTIFICATION_BATCH_MAX:
            raise ApplicationError(
                f"At most {settings.NOTIFICATION_BATCH_MAX} notifications per request.",
                code="payload_too_large",
                status=413,
            )
        retry_after = send_rate_retry_after(request, amount=len(bodies))
        if retry_after is not None:
            raise exceptions.Throttled(wait=retry_after)
        results = notifications_accept_batch(
            caller=caller_of(request),
            bodies=bodies,
            correlation_id=getattr(request._request, "correlation_id", ""),
        )
        counts = Counter(
            {202: "accepted", 200: "repeated", 409: "conflicts"}.get(r.http_status, "invalid")
            for r in results
        )
        response = Response([result.as_dict() for result in results])
        response.envelope_meta = {  # type: ignore[attr-defined]
            "total": len(results),
            **{name: counts[name] for name in ("accepted", "repeated", "conflicts", "invalid")},
        }
        return response


class NotificationDetailApi(APIView):
    permission_classes = [IsAuthenticatedCaller]

    @extend_schema(
        operation_id="getNotification",
        description=(
            "The notification with every delivery attempt (worker, provider, outcome, error). A user's "
            "token reads only their own; others are 404."
        ),
        examples=examples(response=ex.NOTIFICATION_DETAIL),
        summary="A notification: status, attempts, timestamps, error",
        tags=["notifications"],
        responses=NotificationDetailSerializer,
    )
    def get(self, request: Request, notification_id: str) -> Response:
        notification = notification_get(notification_id=notification_id, user_id=_viewer_scope(request))
        if notification is None:
            raise ApplicationError("Not found.", code="not_found", status=404)
        return Response(NotificationDetailSerializer(notification).data)


def _uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApplicationError("Not found.", code="not_found", status=404) from None


class NotificationCancelApi(APIView):
    permission_classes = [IsServiceOrStaff]

    @extend_schema(
        operation_id="cancelNotification",
        extensions=error_codes("not_cancellable"),
        examples=examples(response=ex.NOTIFICATION_CANCELLED),
        summary="Cancel a notification that no provider has yet",
        description=(
            "A `scheduled`, `pending` or `queued` notification (or one whose worker died while "
            "`sending`) ends `cancelled`, with who cancelled it and when; a worker that meets it later "
            "does nothing. Once a worker is handing it to a provider, or after, the answer is 409 with "
            "its current status in `data.status`."
        ),
        tags=["notifications"],
        request=None,
        responses={
            200: NotificationSerializer,
            404: OpenApiResponse(description="No such notification"),
            409: OpenApiResponse(description="Past cancelling; `data.status` says where it is"),
        },
    )
    def post(self, request: Request, notification_id: str) -> Response:
        notification = notification_cancel(
            notification_id=_uuid_or_404(notification_id), by=caller_of(request)
        )
        response = Response(NotificationSerializer(notification).data)
        response.envelope_message = "Cancelled"  # type: ignore[attr-defined]
        return response


class StatusCallbackApi(APIView):
    """POST /api/v1/{email|push}/status/: a provider (or a relay of its webhooks) reports the outcome."""

    permission_classes = [IsServiceOrStaff]
    channel = ""

    @extend_schema(
        operation_id="reportDeliveryStatus",
        description=(
            "For providers (or a relay of their webhooks) that confirm delivery: moves a `sent` "
            "notification to `delivered` or `failed`, once; the same report again changes nothing."
        ),
        extensions=error_codes("invalid_transition", "not_found"),
        examples=examples(
            request=ex.STATUS_REPORT_REQUEST,
            response={**ex.NOTIFICATION, "status": "delivered", "delivered_at": ex.LATER},
        ),
        summary="Report a provider's delivery outcome for a notification",
        tags=["notifications"],
        request=StatusCallbackSerializer,
        responses={
            200: NotificationSerializer,
            409: OpenApiResponse(description="The notification's status cannot move to this one"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = StatusCallbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        notification = notification_status_update(channel=self.channel, **serializer.validated_data)
        return Response(NotificationSerializer(notification).data)


@extend_schema_view(post=extend_schema(operation_id="reportEmailStatus"))
class EmailStatusApi(StatusCallbackApi):
    channel = Channel.EMAIL


@extend_schema_view(post=extend_schema(operation_id="reportPushStatus"))
class PushStatusApi(StatusCallbackApi):
    channel = Channel.PUSH


class BroadcastListApi(APIView):
    permission_classes = [IsServiceOrStaff]

    @extend_schema(
        operation_id="listBroadcasts",
        description=(
            "Broadcasts (sends to a topic or a list of users), newest first, 20 a page, by topic or status."
        ),
        examples=examples(response=[ex.BROADCAST]),
        summary="List broadcasts, newest first",
        tags=["broadcasts"],
        parameters=[
            OpenApiParameter("topic", OpenApiTypes.STR, description="Only this topic's (its key)."),
            OpenApiParameter("status", OpenApiTypes.STR, enum=BroadcastStatus.values),
            OpenApiParameter("page", OpenApiTypes.INT, description="Page number, from 1."),
            OpenApiParameter(
                "limit", OpenApiTypes.INT, description="Items per page (default 20, at most 100)."
            ),
        ],
        responses=BroadcastSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        status_filter = request.query_params.get("status")
        if status_filter is not None and status_filter not in BroadcastStatus.values:
            raise exceptions.ValidationError({"status": [f"One of: {', '.join(BroadcastStatus.values)}."]})
        broadcasts = broadcast_list(topic=request.query_params.get("topic"), status=status_filter)
        paginator = EnvelopePagination()
        page = paginator.paginate_queryset(broadcasts, request, view=self)
        return paginator.get_paginated_response(BroadcastSerializer(page, many=True).data)


class BroadcastDetailApi(APIView):
    permission_classes = [IsServiceOrStaff]

    @extend_schema(
        operation_id="getBroadcast",
        description=(
            "How far the fan-out is (`notifications_created` of `recipients`), and its notifications "
            "by status."
        ),
        examples=examples(response=ex.BROADCAST_DETAIL),
        summary="A broadcast's progress: recipients, notifications created, and their statuses",
        tags=["broadcasts"],
        responses=BroadcastDetailSerializer,
    )
    def get(self, request: Request, broadcast_id: str) -> Response:
        broadcast = broadcast_get(broadcast_id=broadcast_id)
        if broadcast is None:
            raise ApplicationError("Not found.", code="not_found", status=404)
        counts = broadcast_status_counts(broadcast=broadcast)
        return Response(BroadcastDetailSerializer(broadcast, context={"counts": counts}).data)


class BroadcastCancelApi(APIView):
    permission_classes = [IsServiceOrStaff]

    @extend_schema(
        operation_id="cancelBroadcast",
        examples=examples(
            response={
                **ex.BROADCAST_DETAIL,
                "status": "cancelled",
                "cancelled_at": ex.LATER,
                "cancelled_by": "api_key:billing-service",
                "notifications_by_status": {"cancelled": 1},
            }
        ),
        summary="Cancel a broadcast: no more recipients, and every recipient's notification not yet "
        "with a provider cancelled",
        description=(
            "Stops the fan-out where it is and cancels each of its notifications that no provider has "
            "yet, in one transaction; those a worker is handing to a provider at that moment, and those "
            "already sent, keep their course. The answer is the broadcast with its counts by status, and "
            "`meta.cancelled`, how many notifications this call cancelled. 409 when it was cancelled "
            "before."
        ),
        tags=["broadcasts"],
        request=None,
        responses={
            200: BroadcastDetailSerializer,
            404: OpenApiResponse(description="No such broadcast"),
            409: OpenApiResponse(description="Cancelled before"),
        },
        extensions={
            **error_codes("not_cancellable"),
            "x-envelope-meta": {
                "type": "object",
                "properties": {"cancelled": {"type": "integer"}},
                "required": ["cancelled"],
            },
        },
    )
    def post(self, request: Request, broadcast_id: str) -> Response:
        result = broadcast_cancel(broadcast_id=_uuid_or_404(broadcast_id), by=caller_of(request))
        counts = broadcast_status_counts(broadcast=result.broadcast)
        response = Response(BroadcastDetailSerializer(result.broadcast, context={"counts": counts}).data)
        response.envelope_message = "Cancelled"  # type: ignore[attr-defined]
        response.envelope_meta = {"cancelled": result.cancelled}  # type: ignore[attr-defined]
        return response
