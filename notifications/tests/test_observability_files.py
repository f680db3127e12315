"""deploy/grafana (the dashboard and its provisioning), deploy/prometheus/prometheus.yml and the compose
file's `observability` and `flower` profiles: valid and wired to one another, and the dashboard asks only
for series that /metrics really exposes, so that renaming a metric cannot silently blank a panel."""

import json
import re
from pathlib import Path

import pytest
import yaml
from django.test import Client

from notifications import metrics
from notifier.tests.test_metrics import samples, scrape

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "notifier.json"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
COMPOSE = ROOT / "docker-compose.yml"
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


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _mounted_at(service: dict, target: str) -> Path:
    """The repository path the compose service mounts read-only at `target`."""
    [source] = [
        v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == target and v.endswith(":ro")
    ]
    return ROOT / source


def test_the_prometheus_config_scrapes_the_api_every_worker_pool_rabbitmq_and_flower():
    config = yaml.safe_load(PROMETHEUS.read_text())
    services = _compose()["services"]

    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"notifier-api", "notifier-workers", "rabbitmq", "flower"}
    assert jobs["notifier-api"]["metrics_path"] == "/metrics"
    assert jobs["notifier-api"]["static_configs"][0]["targets"] == ["api:8000"]
    [workers] = jobs["notifier-workers"]["dns_sd_configs"]
    worker_services = sorted(name for name in services if name.endswith("-worker"))
    assert sorted(workers["names"]) == worker_services
    assert all(
        services[name]["environment"]["WORKER_METRICS_PORT"] == str(workers["port"])
        for name in worker_services
    )
    token_file = services["prometheus"]["command"][0].split("> ")[1].split()[0]
    for name in ("notifier-api", "notifier-workers"):
        assert jobs[name]["authorization"] == {"type": "Bearer", "credentials_file": token_file}
    assert jobs["rabbitmq"]["static_configs"][0]["targets"] == ["rabbitmq:15692"]
    assert jobs["flower"]["static_configs"][0]["targets"] == ["flower:5555"]
    assert "api" in services["api"]["environment"]["ALLOWED_HOSTS"]


def test_the_observability_profile_runs_prometheus_and_grafana_with_the_dashboard_provisioned():
    services = _compose()["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]

    assert prometheus["profiles"] == grafana["profiles"] == ["observability"]
    assert _mounted_at(prometheus, "/etc/prometheus/prometheus.yml") == PROMETHEUS
    provisioning = _mounted_at(grafana, "/etc/grafana/provisioning")
    [datasource] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert (datasource["type"], datasource["url"], datasource["isDefault"]) == (
        "prometheus", "http://prometheus:9090", True
    )  # fmt: skip
    [provider] = yaml.safe_load((provisioning / "dashboards" / "notifier.yml").read_text())["providers"]
    assert provider["type"] == "file"
    dashboards = _mounted_at(grafana, provider["options"]["path"])
    assert sorted(p.name for p in dashboards.glob("*.json")) == ["notifier.json"]
    assert dashboards / "notifier.json" == DASHBOARD


def test_rabbitmq_exposes_its_own_metrics_through_the_prometheus_plugin():
    rabbitmq = _compose()["services"]["rabbitmq"]

    plugins = _mounted_at(rabbitmq, "/etc/rabbitmq/enabled_plugins").read_text().strip()
    assert re.fullmatch(r"\[([a-z_]+,)*[a-z_]+\]\.", plugins)
    assert {"rabbitmq_management", "rabbitmq_prometheus"} <= set(plugins[1:-2].split(","))


def test_the_flower_profile_runs_flower_behind_basic_auth_on_localhost():
    flower = _compose()["services"]["flower"]

    assert flower["profiles"] == ["flower"]
    assert flower["command"] == ["flower"]
    assert flower["ports"] == ["127.0.0.1:5555:5555"]
    assert flower["environment"]["FLOWER_ADDRESS"] == "0.0.0.0"  # noqa: S104 - inside its container
