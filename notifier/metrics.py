"""Prometheus plumbing of the API: who may scrape, the registry behind /metrics, the view, and the
middleware that counts and times every request. The metrics themselves are in notifications/metrics.py.

Under gunicorn, each worker process records its own values; with PROMETHEUS_MULTIPROC_DIR set (as
notifier/gunicorn_conf.py does) they are written to files there and /metrics adds up every process's.
Without it (tests, `manage.py runserver`) /metrics shows this process's own registry.
"""

import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterable
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from notifications.metrics import OperationsCollector, http_request_observed

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _networks(entries: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    try:
        return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {exc}") from exc


def _address_allowed(remote_addr: str) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr.strip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_IPS)))


def metrics_access_allowed(*, remote_addr: str, authorization: str) -> bool:
    """The client's address must be in METRICS_ALLOWED_IPS and, when METRICS_TOKEN is set, it must send
    `Authorization: Bearer <METRICS_TOKEN>`. The address is the socket's peer (REMOTE_ADDR), never a
    forwarded header a client could write."""
    if not _address_allowed(remote_addr):
        return False
    token: str = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, credentials = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode())


class _ProcessRegistry(Collector):
    """The default registry of this process, as one collector of the /metrics registry."""

    def collect(self) -> Iterable:  # type: ignore[override]
        return REGISTRY.collect()


def metrics_registry(*, multiprocess_dir: str | None = None) -> CollectorRegistry:
    """What /metrics shows: every process's recorded values, and the values read at scrape time."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir if multiprocess_dir is not None else os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(_ProcessRegistry())
    registry.register(OperationsCollector())
    return registry


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. Plain text, outside the API's JSON envelope; a refusal is a bare 403."""
    if not metrics_access_allowed(
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        authorization=request.META.get("HTTP_AUTHORIZATION", ""),
    ):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain; charset=utf-8")
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_PLAIN_0_0_4)


UNMATCHED_ENDPOINT = "<unmatched>"
# Any other method a client invents is counted as "other": label values must stay a small set.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Counts and times each request by its URL route (`/api/v1/notifications/<str:notification_id>`),
    never the raw path, so that ids do not become label values."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        http_request_observed(
            endpoint=f"/{match.route}" if match is not None else UNMATCHED_ENDPOINT,
            url_name=(match.url_name or "") if match is not None else "",
            method=request.method if request.method in KNOWN_METHODS else "other",
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response
