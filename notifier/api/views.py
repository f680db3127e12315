"""Liveness, readiness, and JSON answers for URLs and failures outside DRF views."""

import logging
from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django_redis import get_redis_connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from notifications.broker.connection import broker_connect, broker_connection
from notifier.api.examples import examples
from notifier.api.exceptions import error_response
from notifier.api.renderers import envelope
from notifier.api.schema import error_codes

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    get_redis_connection("default").ping()


def _check_rabbitmq() -> None:
    with broker_connection(timeout=CHECK_TIMEOUT_SECONDS) as conn:
        broker_connect(conn, timeout=CHECK_TIMEOUT_SECONDS)


READINESS_CHECKS = {"postgresql": _check_database, "redis": _check_redis, "rabbitmq": _check_rabbitmq}


@extend_schema(
    operation_id="getHealth",
    summary="Liveness: the process answers",
    description="200 while the process serves requests; it checks no dependency (see /ready).",
    examples=examples(response={"status": "ok"}),
    responses=inline_serializer("Health", {"status": serializers.CharField()}),
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def health(request: Request) -> Response:
    return Response({"status": "ok"})


@extend_schema(
    operation_id="getReadiness",
    summary="Readiness: PostgreSQL, Redis and RabbitMQ each checked",
    description=(
        "200 when PostgreSQL, Redis and RabbitMQ each answer; 503 `not_ready` naming those that do not. "
        "Load balancers and Kubernetes route traffic by it."
    ),
    extensions=error_codes("not_ready"),
    examples=examples(
        response={"status": "ready", "checks": {"database": "ok", "redis": "ok", "broker": "ok"}}
    ),
    responses={
        200: inline_serializer(
            "Ready",
            {
                "status": serializers.CharField(),
                "checks": serializers.DictField(child=serializers.CharField()),
            },
        ),
        503: inline_serializer(
            "NotReady",
            {
                "status": serializers.CharField(),
                "checks": serializers.DictField(child=serializers.CharField()),
            },
        ),
    },
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def ready(request: Request) -> Response:
    checks: dict[str, str] = {}
    for name, check in READINESS_CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure of a dependency means "not ready"; it is reported
            logger.warning("readiness check failed", extra={"dependency": name, "error": repr(exc)})
            checks[name] = f"down: {exc.__class__.__name__}"
    if all(state == "ok" for state in checks.values()):
        return Response({"status": "ready", "checks": checks})
    response = error_response(
        code="not_ready",
        message="A dependency is down: " + ", ".join(k for k, v in checks.items() if v != "ok"),
        http_status=503,
        data={"status": "not_ready", "checks": checks},
    )
    return response


def bad_request(request: HttpRequest, exception: Any = None) -> JsonResponse:
    """Django's own 400s (a Host not allowed, a provider webhook's failed signature check...)."""
    return JsonResponse(envelope(success=False, error="bad_request", message="Bad request."), status=400)


def permission_denied(request: HttpRequest, exception: Any = None) -> JsonResponse:
    return JsonResponse(
        envelope(success=False, error="permission_denied", message="You may not do this."), status=403
    )


def not_found(request: HttpRequest, exception: Any = None) -> JsonResponse:
    return JsonResponse(envelope(success=False, error="not_found", message="Not found."), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        envelope(success=False, error="internal_error", message="An unexpected error occurred."), status=500
    )
