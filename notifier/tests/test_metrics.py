"""/metrics: who may read it, what the request middleware records, and the multiprocess registry."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from notifications import metrics
from notifier.metrics import metrics_access_allowed, metrics_registry

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: Client, **extra) -> str:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content.decode()


@pytest.fixture
def client() -> Client:
    return Client()


def test_metrics_answer_the_local_address(db, client):
    text = scrape(client)

    assert "# TYPE notifier_http_requests_total counter" in text
    assert "# TYPE notifier_breaker_state gauge" in text


def test_metrics_refuse_an_address_outside_the_allowlist(db, client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 403
    assert response.content == b"Forbidden\n"
    assert b"notifier_" not in response.content


def test_metrics_allow_a_network_of_the_allowlist(db, client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_metrics_require_the_token_when_one_is_set(db, client, settings):
    settings.METRICS_TOKEN = "scrape-secret-123"

    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic scrape-secret-123").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-123").status_code == 200


def test_the_token_does_not_open_an_address_outside_the_allowlist(db, client, settings):
    settings.METRICS_TOKEN = "scrape-secret-123"

    response = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-secret-123"
    )

    assert response.status_code == 403


def test_any_address_with_the_token_when_the_allowlist_is_open(settings):
    settings.METRICS_ALLOWED_IPS = ["0.0.0.0/0", "::/0"]
    settings.METRICS_TOKEN = "t0ken"

    assert metrics_access_allowed(remote_addr="198.51.100.7", authorization="Bearer t0ken")
    assert metrics_access_allowed(remote_addr="2001:db8::1", authorization="Bearer t0ken")
    assert not metrics_access_allowed(remote_addr="198.51.100.7", authorization="")
    assert not metrics_access_allowed(remote_addr="not an address", authorization="Bearer t0ken")


def test_an_ipv4_mapped_address_counts_as_its_ipv4_address(settings):
    assert metrics_access_allowed(remote_addr="::ffff:127.0.0.1", authorization="")


def test_metrics_take_only_get(db, client):
    assert client.post("/metrics").status_code == 405


def test_the_request_counter_counts_by_route_not_by_path(db, client):
    key = (
        "notifier_http_requests_total",
        frozenset({"endpoint": "/health", "method": "GET", "status": "200"}.items()),
    )
    before = samples(scrape(client)).get(key, 0.0)

    client.get("/health")
    client.get("/health")
    client.get("/api/v1/notifications/0b6a3c1e-0000-4000-8000-000000000000")
    after = samples(scrape(client))

    assert after[key] == before + 2
    detail = frozenset(
        {"endpoint": "/api/v1/notifications/<str:notification_id>", "method": "GET", "status": "401"}.items()
    )
    assert after[("notifier_http_requests_total", detail)] >= 1
    assert not any("0b6a3c1e" in str(labels) for _, labels in after)
    duration = frozenset({"endpoint": "/health", "method": "GET", "le": "+Inf"}.items())
    assert after[("notifier_http_request_duration_seconds_bucket", duration)] >= 2


def test_an_unknown_path_and_an_invented_method_keep_labels_bounded(db, client):
    client.get("/no/such/page/12345")
    client.generic("BREW", "/health")

    text = scrape(client)

    assert 'endpoint="<unmatched>",method="GET",status="404"' in text
    assert 'endpoint="/health",method="other",status="405"' in text
    assert "12345" not in text


def test_the_accept_endpoint_has_its_own_latency_histogram(db, client):
    client.post("/api/v1/notifications/", {}, content_type="application/json")

    text = scrape(client)

    assert 'notifier_accept_duration_seconds_count{status="401"}' in text


def test_the_recording_functions_for_the_pipeline(db, client):
    metrics.notification_accepted(channel="email", status="queued")
    metrics.delivery_finished(channel="push", status="sent", latency_seconds=1.5)
    metrics.delivery_finished(channel="push", status="failed", latency_seconds=None)
    metrics.provider_error(channel="email", provider="primary", error_class="TransientDeliveryError")
    metrics.provider_sent(channel="email", provider="backup")
    metrics.notifications_cancelled(channel="email", amount=2)

    values = samples(scrape(client))

    accepted = frozenset({"channel": "email", "status": "queued"}.items())
    assert values[("notifier_notifications_accepted_total", accepted)] >= 1
    finished = frozenset({"channel": "push", "status": "sent"}.items())
    assert values[("notifier_notifications_finished_total", finished)] >= 1
    assert values[("notifier_delivery_latency_seconds_count", frozenset({"channel": "push"}.items()))] >= 1
    bucket = frozenset({"channel": "push", "le": "2.5"}.items())
    assert values[("notifier_delivery_latency_seconds_bucket", bucket)] >= 1
    error = frozenset(
        {"channel": "email", "provider": "primary", "error_class": "TransientDeliveryError"}.items()
    )
    assert values[("notifier_provider_errors_total", error)] >= 1
    sends = frozenset({"channel": "email", "provider": "backup"}.items())
    assert values[("notifier_provider_sends_total", sends)] >= 1
    cancelled = frozenset({"channel": "email", "status": "cancelled"}.items())
    assert values[("notifier_notifications_finished_total", cancelled)] >= 2


def test_every_recorded_metric_has_labels():
    """A metric without labels would write its multiprocess file at import, before a worker chose its
    private directory (notifier/worker_metrics.py)."""
    recorded = [value for value in vars(metrics).values() if hasattr(value, "_labelnames")]

    assert len(recorded) >= 9
    assert all(metric._labelnames for metric in recorded)


def test_the_multiprocess_registry_adds_up_every_process(db, tmp_path):
    script = (
        "import django; django.setup()\n"
        "from notifications import metrics\n"
        "metrics.delivery_finished(channel='email', status='sent', latency_seconds=0.2)\n"
    )
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "notifier.settings",
        "PATH": "/usr/bin:/bin",
        # A fresh clone has no .env: the suite's own secrets (settings refuse to load without them).
        "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],
        "JWT_SECRET": os.environ["JWT_SECRET"],
    }
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)

    from prometheus_client import generate_latest

    text = generate_latest(metrics_registry(multiprocess_dir=str(tmp_path))).decode()
    values = samples(text)

    finished = frozenset({"channel": "email", "status": "sent"}.items())
    assert values[("notifier_notifications_finished_total", finished)] == 2
    assert "notifier_breaker_state" in text  # the values read at scrape time are there too
