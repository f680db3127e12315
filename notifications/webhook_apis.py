"""Status webhook endpoints under /api/v1/webhooks/: API keys and staff only (the operators of this
installation); users never see them. The signing secret is shown once, on create and on rotation."""

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.apis import caller_of
from notifications.models import WebhookEndpoint, WebhookEvent, WebhookEventState
from notifications.webhook_serializers import (
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateSerializer,
    WebhookEndpointWithSecretSerializer,
    WebhookEventSerializer,
)
from notifications.webhooks.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
    webhook_not_found,
)
from notifier.api import examples as ex
from notifier.api.errors import ApplicationError
from notifier.api.examples import examples
from notifier.api.pagination import PAGE_QUERY_PARAMETERS, paginated_response
from notifier.api.permissions import IsServiceOrStaff
from notifier.api.schema import DELETED_RESPONSE, error_codes
from notifier.api.validation import validated_body

WEBHOOKS_TAG = "webhooks"
URL_REFUSED = OpenApiResponse(description="The URL is not https, or resolves to a private address")


def _endpoint(endpoint_id: str) -> WebhookEndpoint:
    valid = endpoint_id.isdigit() and len(endpoint_id) < 18
    endpoint = WebhookEndpoint.objects.filter(pk=int(endpoint_id)).first() if valid else None
    if endpoint is None:
        raise webhook_not_found()
    return endpoint


class WebhookListCreateApi(APIView):
    permission_classes = [IsServiceOrStaff]

    @extend_schema(
        operation_id="listWebhookEndpoints",
        description=(
            "The registered status webhook endpoints with their health, 20 a page; secrets show as "
            "their prefix."
        ),
        examples=examples(response=[ex.WEBHOOK_ENDPOINT]),
        summary="List webhook endpoints",
        tags=[WEBHOOKS_TAG],
        parameters=PAGE_QUERY_PARAMETERS,
        responses=WebhookEndpointSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        return paginated_response(request, self, WebhookEndpoint.objects.all(), WebhookEndpointSerializer)

    @extend_schema(
        operation_id="createWebhookEndpoint",
        extensions=error_codes("url_refused", "limit_reached"),
        examples=examples(request=ex.WEBHOOK_CREATE_REQUEST, response=ex.WEBHOOK_WITH_SECRET, status=201),
        summary="Register a webhook endpoint",
        description=(
            "Status events are POSTed to `url`, signed per Standard Webhooks (`webhook-id`, "
            "`webhook-timestamp`, `webhook-signature`) with the secret in this answer, shown only here."
        ),
        tags=[WEBHOOKS_TAG],
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointWithSecretSerializer, 400: URL_REFUSED},
    )
    def post(self, request: Request) -> Response:
        created = webhook_endpoint_create(
            **validated_body(WebhookEndpointCreateSerializer, request), by=caller_of(request)
        )
        return Response(
            WebhookEndpointWithSecretSerializer((created.endpoint, created.secret)).data,
            status=status.HTTP_201_CREATED,
        )


class WebhookDetailApi(APIView):
    permission_classes = [IsServiceOrStaff]

    @extend_schema(
        operation_id="getWebhookEndpoint",
        summary="A webhook endpoint",
        description="The endpoint with its health: active, disabled and why, failing since when.",
        tags=[WEBHOOKS_TAG],
        responses=WebhookEndpointSerializer,
        examples=examples(response=ex.WEBHOOK_ENDPOINT),
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(WebhookEndpointSerializer(_endpoint(endpoint_id)).data)

    @extend_schema(
        operation_id="updateWebhookEndpoint",
        description=(
            "Only the fields given change. `is_active: false` disables it (its events wait); `true` "
            "enables it and sends what waited."
        ),
        extensions=error_codes("url_refused"),
        examples=examples(
            request=ex.WEBHOOK_UPDATE_REQUEST,
            response={
                **ex.WEBHOOK_ENDPOINT,
                "is_active": False,
                "disabled_reason": "disabled by api_key:billing-service",
                "disabled_at": ex.LATER,
            },
        ),
        summary="Change, disable or enable a webhook endpoint",
        tags=[WEBHOOKS_TAG],
        request=WebhookEndpointUpdateSerializer,
        responses={200: WebhookEndpointSerializer, 400: URL_REFUSED},
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        changes = validated_body(WebhookEndpointUpdateSerializer, request)
        endpoint = webhook_endpoint_update(endpoint=_endpoint(endpoint_id), changes=changes)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="deleteWebhookEndpoint",
        description=("Deletes the endpoint with its events and their attempts; nothing more is sent to it."),
        summary="Delete a webhook endpoint with its events",
        tags=[WEBHOOKS_TAG],
        responses={200: DELETED_RESPONSE},
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        webhook_endpoint_delete(endpoint=_endpoint(endpoint_id))
        return Response(None)


class WebhookRotateSecretApi(APIView):
    permission_classes = [IsServiceOrStaff]

    @extend_schema(
        operation_id="rotateWebhookSecret",
        examples=examples(response=ex.WEBHOOK_WITH_SECRET),
        summary="Rotate a webhook endpoint's signing secret",
        description=(
            "Answers the new secret, shown only here. The previous one keeps signing beside it for "
            "WEBHOOK_SECRET_GRACE_SECONDS (a day), so the receiver can switch without missing events."
        ),
        tags=[WEBHOOKS_TAG],
        request=None,
        responses=WebhookEndpointWithSecretSerializer,
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        rotated = webhook_endpoint_rotate_secret(endpoint=_endpoint(endpoint_id))
        return Response(WebhookEndpointWithSecretSerializer((rotated.endpoint, rotated.secret)).data)


class WebhookEventListApi(APIView):
    permission_classes = [IsServiceOrStaff]

    @extend_schema(
        operation_id="listWebhookEvents",
        description=(
            "The endpoint's events with their state, attempts, last error and payload, 20 a page; "
            "`state` filters."
        ),
        examples=examples(response=[ex.WEBHOOK_EVENT]),
        summary="A webhook endpoint's events, newest first",
        tags=[WEBHOOKS_TAG],
        parameters=[
            *PAGE_QUERY_PARAMETERS,
            OpenApiParameter("state", str, enum=[state.value for state in WebhookEventState]),
        ],
        responses=WebhookEventSerializer(many=True),
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        events: QuerySet[WebhookEvent] = WebhookEvent.objects.filter(
            endpoint=_endpoint(endpoint_id)
        ).order_by("-id")
        state = request.query_params.get("state")
        if state is not None:
            if state not in WebhookEventState.values:
                raise ApplicationError(
                    f"state must be one of: {', '.join(WebhookEventState.values)}.", data={"field": "state"}
                )
            events = events.filter(state=state)
        return paginated_response(request, self, events, WebhookEventSerializer)
