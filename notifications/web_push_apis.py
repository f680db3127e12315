"""GET /api/v1/web-push/vapid-public-key: the key a browser page subscribes with
(pushManager.subscribe({applicationServerKey})). Public by nature: no credentials needed."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifier.api import examples as ex
from notifier.api.errors import ApplicationError
from notifier.api.examples import examples
from notifier.api.schema import error_codes


class VapidPublicKeyApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="getVapidPublicKey",
        description=(
            "A page passes it as `applicationServerKey` to `pushManager.subscribe()` and registers the "
            "subscription as a device (platform web). Open to all: the key is public."
        ),
        extensions=error_codes("not_configured"),
        examples=examples(response=ex.VAPID_PUBLIC_KEY),
        summary="The Web Push (VAPID) public key browsers subscribe with",
        tags=["devices"],
        responses={
            200: inline_serializer(
                "VapidPublicKey",
                {"public_key": serializers.CharField(help_text="base64url of the uncompressed P-256 point.")},
            ),
            404: OpenApiResponse(description="Web Push is not configured (no VAPID key pair)"),
        },
    )
    def get(self, request: Request) -> Response:
        if not settings.WEB_PUSH_VAPID_PUBLIC_KEY:
            raise ApplicationError(
                "Web Push is not configured: set WEB_PUSH_VAPID_PRIVATE_KEY and WEB_PUSH_VAPID_PUBLIC_KEY "
                "(`make run` writes a pair into .env).",
                code="not_configured",
                status=404,
            )
        return Response({"public_key": settings.WEB_PUSH_VAPID_PUBLIC_KEY})
