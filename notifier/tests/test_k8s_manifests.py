"""deploy/k8s, checked offline: every object against Kubernetes' schemas (kubernetes-validate) and KEDA's
(its published schema, from the npm package `make k8s-tools` installs), then what the objects must say
for this system: a Deployment and a ScaledObject per worker pool and lane on exactly its queues, probes,
resources, grace periods above the task time limit, settings that the code reads."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml
from django.conf import settings

from notifications.channels import CHANNELS
from notifier.workers import POOLS, WEBHOOK_POOL, worker_pool_name, worker_queues

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KEDA_MODULES = ROOT / "var" / "k8s-tools" / "node_modules"
# The oldest Kubernetes release the manifests are written for, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}


def _resource_files() -> list[Path]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [K8S / name for name in kustomization["resources"]]


def _objects() -> list[dict[str, Any]]:
    return [obj for path in _resource_files() for obj in yaml.safe_load_all(path.read_text()) if obj]


OBJECTS = _objects()


def _of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in OBJECTS if obj["kind"] == kind}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_the_kustomization_lists_every_manifest_in_the_folder():
    listed = {path.name for path in _resource_files()}
    present = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_kubernetes_object_is_valid(version):
    core = [obj for obj in OBJECTS if obj["kind"] not in KEDA_KINDS]
    assert len(core) >= 15
    for obj in core:
        kubernetes_validate.validate(obj, version, strict=True)


def test_a_wrong_field_is_refused_by_the_schema():
    deployment = json.loads(json.dumps(_of_kind("Deployment")["notifier-api"]))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def _keda_validate(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert (KEDA_MODULES / "@kubernetes-models" / "keda").is_dir(), "run `make k8s-tools` (make test does)"
    node = shutil.which("node")
    assert node, "Node.js is needed to read KEDA's schema"
    result = subprocess.run(
        [node, str(K8S / "tools" / "keda_validate.mjs"), str(KEDA_MODULES)],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_every_keda_object_is_valid_against_kedas_schema():
    keda = [obj for obj in OBJECTS if obj["kind"] in KEDA_KINDS]
    results = _keda_validate(keda)
    assert len(results) == len(keda) == 1 + len(_of_kind("ScaledObject"))
    assert [r for r in results if r["error"]] == []
    # The check can fail: a count given as text is refused.
    broken = json.loads(json.dumps(_of_kind("ScaledObject")["notifier-email-worker"]))
    broken["spec"]["maxReplicaCount"] = "ten"
    (refused,) = _keda_validate([broken])
    assert "maxReplicaCount" in refused["error"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not on this machine")
def test_kustomize_builds_the_same_objects_in_the_namespace_with_the_image():
    built = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    objects = [obj for obj in yaml.safe_load_all(built) if obj]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == sorted(
        (o["kind"], o["metadata"]["name"]) for o in OBJECTS
    )
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "notifier"
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "notifier"
        if obj["kind"] in {"Deployment", "Job"}:
            image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
            assert image == "registry.example.com/notifier:1.0.0"
        if obj["kind"] not in KEDA_KINDS:
            kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)


def _entrypoint_roles() -> set[str]:
    script = (ROOT / "deploy" / "docker-entrypoint.sh").read_text()
    return set(re.findall(r"^\s{4}([a-z-]+)\)$", script, flags=re.MULTILINE))


def _pools() -> list[tuple[str, bool]]:
    return [(pool, urgent) for pool in POOLS for urgent in ((False, True) if pool in CHANNELS else (False,))]


@pytest.mark.parametrize(("pool", "urgent"), _pools())
def test_each_worker_pool_and_lane_has_a_deployment_scaled_on_exactly_its_queues(pool, urgent):
    name = worker_pool_name(pool, urgent=urgent)
    deployment = _of_kind("Deployment")[f"notifier-{name}-worker"]
    container = _container(deployment)
    assert container["args"] == [f"{name}-worker"]
    assert f"{name}-worker" in _entrypoint_roles()
    # The liveness probe pings this pod's own worker, by the hostname run_worker gives it.
    assert f"--destination {name}@$HOSTNAME" in container["livenessProbe"]["exec"]["command"][-1]
    assert "--timeout" in container["livenessProbe"]["exec"]["command"][-1]
    # A batch finishes within the task's hard time limit; the pod is given longer to stop.
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > settings.CELERY_TASK_TIME_LIMIT
    assert int(_of_kind("ConfigMap")["notifier-config"]["data"]["TASK_TIME_LIMIT"]) < grace

    scaled = _of_kind("ScaledObject")[f"notifier-{name}-worker"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    triggers = scaled["spec"]["triggers"]
    assert sorted(t["metadata"]["queueName"] for t in triggers) == sorted(worker_queues(pool, urgent=urgent))
    assert {t["type"] for t in triggers} == {"rabbitmq"}
    assert {t["authenticationRef"]["name"] for t in triggers} == set(_of_kind("TriggerAuthentication"))
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]


def test_there_are_no_other_worker_deployments_or_scaled_objects():
    expected = {f"notifier-{worker_pool_name(pool, urgent=urgent)}-worker" for pool, urgent in _pools()}
    assert {name for name in _of_kind("Deployment") if name.endswith("-worker")} == expected
    assert set(_of_kind("ScaledObject")) == expected
    assert WEBHOOK_POOL in POOLS


def test_the_trigger_authentication_reads_a_key_the_secret_has():
    (auth,) = _of_kind("TriggerAuthentication").values()
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "host"
    assert ref["key"] in _of_kind("Secret")[ref["name"]]["stringData"]


def test_every_deployment_has_memory_requests_and_limits_and_runs_as_non_root():
    for name, deployment in _of_kind("Deployment").items():
        resources = _container(deployment)["resources"]
        assert resources["requests"]["memory"] and resources["limits"]["memory"], name
        assert resources["requests"]["cpu"], name
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True, name
        assert _container(deployment)["args"][0] in _entrypoint_roles(), name


def test_the_api_has_probes_an_autoscaler_and_a_disruption_budget():
    api = _of_kind("Deployment")["notifier-api"]
    container = _container(api)
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    probe_host = {h["name"]: h["value"] for h in container["readinessProbe"]["httpGet"]["httpHeaders"]}[
        "Host"
    ]
    assert probe_host in _of_kind("ConfigMap")["notifier-config"]["data"]["ALLOWED_HOSTS"].split(",")
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert _of_kind("Service")["notifier-api"]["spec"]["selector"].items() <= labels.items()
    hpa = _of_kind("HorizontalPodAutoscaler")["notifier-api"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "notifier-api"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert _of_kind("PodDisruptionBudget")["notifier-api"]["spec"]["selector"]["matchLabels"].items() <= (
        labels.items()
    )


def test_one_scheduler_replaced_never_rolled_and_a_migration_job():
    scheduler = _of_kind("Deployment")["notifier-scheduler"]
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"]["type"] == "Recreate"
    job = _of_kind("Job")["notifier-migrate"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]


def test_every_configured_setting_is_one_the_code_reads():
    code = "\n".join(path.read_text() for path in (ROOT / "notifier").rglob("*.py"))
    keys = [
        *_of_kind("ConfigMap")["notifier-config"]["data"],
        *_of_kind("Secret")["notifier-secrets"]["stringData"],
    ]
    # RABBITMQ_KEDA_URL is KEDA's (keda.yaml).
    unread = [key for key in keys if key != "RABBITMQ_KEDA_URL" and f'"{key}"' not in code]
    assert unread == []
