"""deploy/grafana/notifier-dashboard.json and deploy/prometheus/prometheus.yml: valid, and the dashboard
asks only for series that /metrics really exposes, so that renaming a metric cannot silently blank a
panel."""

import json
import re
from pathlib import Path

import pytest
import yaml
from django.test import Client

from notifications import metrics
from notifier.tests.test_metrics import samples, scrape

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "notifier-dashboard.json"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
SERIES = re.compile(r"\b(notifier_[a-zA-Z0-9_]+)")


def _panels() -> list[dict]:
    return json.loads(DASHBOARD.read_text())["panels"]


def _exprs() -> list[str]:
    return [target["expr"] for panel in _panels() for target in panel["targets"]]


def test_the_dashboard_is_a_grafana_dashboard():
    dashboard = json.loads(DASHBOARD.read_text())

    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    [datasource] = dashboard["templating"]["list"]
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["type"] in {"timeseries", "stat"}
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"], panel["title"]
        assert all(target["expr"] and target["refId"] for target in panel["targets"])


def test_the_dashboard_covers_what_operators_watch():
    referenced = {name for expr in _exprs() for name in SERIES.findall(expr)}

    assert {
        "notifier_http_requests_total",
        "notifier_accept_duration_seconds_bucket",
        "notifier_notifications_accepted_total",
        "notifier_notifications_finished_total",
        "notifier_delivery_latency_seconds_bucket",
        "notifier_provider_errors_total",
        "notifier_provider_sends_total",
        "notifier_breaker_state",
        "notifier_queue_messages",
        "notifier_dlq_messages",
        "notifier_outbox_backlog",
    } <= referenced
    quantiles = " ".join(e for e in _exprs() if "notifier_accept_duration_seconds_bucket" in e)
    assert "histogram_quantile(0.5," in quantiles and "histogram_quantile(0.99," in quantiles


@pytest.mark.django_db
def test_every_series_of_the_dashboard_is_exposed_by_metrics(broker):
    # One value of each recorded metric, so that each has samples (a labelled metric has none before).
    metrics.notification_accepted(channel="email", status="queued")
    metrics.delivery_finished(channel="email", status="sent", latency_seconds=0.5)
    metrics.provider_error(channel="push", provider="fcm", error_class="TransientDeliveryError")
    metrics.provider_sent(channel="email", provider="smtp")
    metrics.worker_task_observed(task="notifications.deliver_email", state="SUCCESS", seconds=0.1)
    client = Client()
    client.post("/api/v1/notifications/", {}, content_type="application/json")

    exposed = {name for name, _ in samples(scrape(client))}

    referenced = {name for expr in _exprs() for name in SERIES.findall(expr)}
    assert referenced, "no series found in the dashboard"
    assert referenced - exposed == set()


def test_the_prometheus_config_scrapes_the_api_and_the_workers():
    config = yaml.safe_load(PROMETHEUS.read_text())

    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"notifier-api", "notifier-workers"}
    assert jobs["notifier-api"]["metrics_path"] == "/metrics"
    assert jobs["notifier-api"]["static_configs"][0]["targets"] == ["api:8000"]
    [workers] = jobs["notifier-workers"]["dns_sd_configs"]
    assert workers["names"] == ["email-worker", "push-worker"]
    assert workers["port"] == 9100
    assert all(job["authorization"]["type"] == "Bearer" for job in jobs.values())
