"""The deployment files, checked without a Docker engine: the compose file and the CI workflow against
their published schemas (check-jsonschema's vendored copies, offline), .env.example against the settings,
the image's roles against the Procfile, and the Dockerfile's and compose file's promises."""

import ast
import contextlib
import importlib.util
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
WORKFLOW = ROOT / ".github" / "workflows" / "ci-cd.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENTRYPOINT = ROOT / "deploy" / "docker-entrypoint.sh"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
ENV_EXAMPLE = ROOT / ".env.example"
PROCFILE = ROOT / "Procfile"
GUNICORN_CONF = ROOT / "notifier" / "gunicorn_conf.py"
SETTINGS_DIR = ROOT / "notifier" / "settings"

# Procfile process -> the image's role (the entrypoint's first argument, the compose service's command).
PROCFILE_ROLES = {
    "web": "api",
    "email_worker": "email-worker",
    "email_urgent_worker": "email-urgent-worker",
    "push_worker": "push-worker",
    "push_urgent_worker": "push-urgent-worker",
    "webhook_worker": "webhook-worker",
    "relay": "relay",
    "scheduler": "scheduler",
    "flower": "flower",
}
APP_SERVICES = [
    "api", "email-worker", "email-urgent-worker", "push-worker", "push-urgent-worker", "webhook-worker",
    "relay", "scheduler", "flower",
]  # fmt: skip
REQUIRED_SERVICES = [*APP_SERVICES, "postgres", "redis", "rabbitmq"]
ENV_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


# Schemas


def test_the_compose_file_is_valid_against_the_compose_specification():
    result = _check_jsonschema("vendor.compose-spec", COMPOSE)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_the_workflow_is_valid_against_the_github_workflow_schema():
    result = _check_jsonschema("vendor.github-workflows", WORKFLOW)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_the_schema_check_rejects_an_invalid_compose_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("condition: service_healthy", "condition: healthy", 1))

    result = _check_jsonschema("vendor.compose-spec", broken)

    assert result.returncode == 1
    assert "depends_on" in result.stdout


# .env.example against what the system reads


def _variables_read_by(path: Path) -> set[str]:
    """Names read through django-environ's `env` (env.str("X"), env.db("X"), env("X"), ...) and os.environ."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = ast.unparse(node.func)
            if func == "env" or func.startswith("env.") or func in {"os.environ.get", "os.getenv"}:
                names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            names.add(ast.literal_eval(node.slice))
    return {name for name in names if isinstance(name, str) and re.fullmatch(r"[A-Z][A-Z0-9_]*", name)}


def _variables_the_system_reads() -> set[str]:
    names = set()
    for path in [*sorted(SETTINGS_DIR.glob("*.py")), GUNICORN_CONF]:
        names |= _variables_read_by(path)
    names |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", PROCFILE.read_text()))
    return names


def _env_example_variables() -> list[str]:
    return [m.group(1) for line in ENV_EXAMPLE.read_text().splitlines() if (m := ENV_LINE.match(line))]


def test_the_variable_scan_finds_the_settings_the_seed_names():
    read = _variables_the_system_reads()

    assert {"JWT_SECRET", "SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASS", "DATABASE_URL"} <= read
    assert {"HOST", "PORT", "WEB_CONCURRENCY", "WEB_THREADS", "WEB_TIMEOUT"} <= read  # gunicorn_conf.py
    assert {"EMAIL_WORKER_CONCURRENCY", "PUSH_URGENT_CONCURRENCY"} <= read  # the worker pools
    assert "STATIC_FILES_STORAGE" in read  # a call spread over several lines


def test_env_example_lists_every_variable_the_system_reads():
    missing = _variables_the_system_reads() - set(_env_example_variables())

    assert missing == set()


def test_env_example_has_no_variable_the_system_does_not_read():
    unknown = set(_env_example_variables()) - _variables_the_system_reads()

    assert unknown == set()


def _literal_defaults(path: Path) -> list[tuple[str, object]]:
    """(name, default) of reads with a literal default: env.int("X", default=5), os.environ.get("X", "5")."""
    defaults = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
            continue
        func = ast.unparse(node.func)
        if func.startswith("env."):
            default = next((k.value for k in node.keywords if k.arg == "default"), None)
        elif func == "os.environ.get" and len(node.args) == 2:
            default = node.args[1]
        else:
            continue
        if default is None:
            continue
        with contextlib.suppress(ValueError):  # a computed default (15 * 60, BASE_DIR / "var") is skipped
            defaults.append((node.args[0].value, ast.literal_eval(default)))
    return defaults


def _same_value(example: str, default: object) -> bool:
    if isinstance(default, bool):
        return example == str(default).lower()
    if isinstance(default, int | float):
        return float(example) == default
    if isinstance(default, list):
        return (example.split(",") if example else []) == default
    if isinstance(default, dict):
        return json.loads(example) == default
    return example == default


def test_env_example_shows_each_literal_default_of_the_code():
    shown = {
        m.group(1): line.split("=", 1)[1]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if (m := ENV_LINE.match(line))
    }
    defaults = [
        d for path in [*sorted(SETTINGS_DIR.glob("*.py")), GUNICORN_CONF] for d in _literal_defaults(path)
    ]

    differing = [
        (name, shown[name], default) for name, default in defaults if not _same_value(shown[name], default)
    ]

    assert len(defaults) > 40
    assert differing == []


def test_env_example_lists_each_variable_once_under_a_comment():
    lines = ENV_EXAMPLE.read_text().splitlines()
    variables = _env_example_variables()
    uncommented = [
        m.group(1)
        for before, line in itertools.pairwise(lines)
        if (m := ENV_LINE.match(line)) and not (before.startswith("# ") and not ENV_LINE.match(before))
    ]

    assert len(variables) == len(set(variables))
    assert uncommented == []


# The compose file


def test_compose_has_every_service_the_system_needs_with_a_healthcheck():
    services = _compose()["services"]

    for name in REQUIRED_SERVICES:
        assert name in services, name
        assert services[name]["healthcheck"]["test"], name
        assert "disable" not in services[name]["healthcheck"], name


def test_workers_can_be_scaled():
    services = _compose()["services"]

    for name in ["email-worker", "email-urgent-worker", "push-worker", "push-urgent-worker", "relay"]:
        assert "container_name" not in services[name], name
        assert "ports" not in services[name], name


def test_the_api_is_published_on_localhost_3000():
    api = _compose()["services"]["api"]

    assert api["ports"] == ["3000:8000"]
    assert api["environment"]["PORT"] == "8000"


def test_rabbitmq_has_quorum_queues_and_its_management_ui_with_the_seed_credentials():
    rabbitmq = _compose()["services"]["rabbitmq"]

    assert rabbitmq["image"] == "rabbitmq:3.13-management"
    assert rabbitmq["ports"] == ["15672:15672"]
    assert rabbitmq["environment"] == {"RABBITMQ_DEFAULT_USER": "user", "RABBITMQ_DEFAULT_PASS": "password"}
    assert rabbitmq["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]


def test_the_data_lives_in_named_volumes():
    compose = _compose()
    services = compose["services"]

    assert services["postgres"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert services["redis"]["volumes"] == ["redis-data:/data"]
    assert services["rabbitmq"]["volumes"][0] == "rabbitmq-data:/var/lib/rabbitmq"
    assert {"postgres-data", "redis-data", "rabbitmq-data"} <= set(compose["volumes"])


def test_the_app_services_start_after_migrate_and_healthy_infrastructure():
    services = _compose()["services"]

    for name in APP_SERVICES:
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "rabbitmq": {"condition": "service_healthy"},
        }, name
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "rabbitmq": {"condition": "service_healthy"},
    }


def test_the_app_services_read_env_and_reach_the_infrastructure_by_service_name():
    services = _compose()["services"]
    rabbitmq = services["rabbitmq"]["environment"]

    for name in [*APP_SERVICES, "migrate"]:
        service = services[name]
        assert service["env_file"] == ".env", name
        assert service["environment"]["DATABASE_URL"] == "postgres://notifier:notifier@postgres:5432/notifier"
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert service["environment"]["CELERY_BROKER_URL"] == (
            f"${{BROKER_NODES:-amqp://{rabbitmq['RABBITMQ_DEFAULT_USER']}:{rabbitmq['RABBITMQ_DEFAULT_PASS']}"
            "@rabbitmq:5672//}"
        )


def test_the_cluster_profile_has_three_rabbitmq_nodes_that_find_each_other(tmp_path):
    services = _compose()["services"]
    nodes = [services[f"rabbitmq-{n}"] for n in (1, 2, 3)]
    config = (ROOT / "deploy" / "rabbitmq" / "cluster.conf").read_text()

    listed = re.findall(r"^cluster_formation\.classic_config\.nodes\.\d = rabbit@(\S+)$", config, flags=re.M)
    assert listed == [node["hostname"] for node in nodes] == ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"]
    assert "cluster_formation.peer_discovery_backend = classic_config" in config
    for node in nodes:
        assert node["profiles"] == ["cluster"]
        assert "./deploy/rabbitmq/cluster.conf:/etc/rabbitmq/conf.d/20-cluster.conf:ro" in node["volumes"]
        assert node["environment"] == nodes[0]["environment"]  # one Erlang cookie, one user
        assert node["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert len({node["volumes"][0] for node in nodes}) == 3  # each node its own data
    # BROKER_NODES, listing the three, points every app service at the cluster.
    # In a folder of its own with an empty .env: a fresh clone has none, and the services read it.
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text("")
    compose = subprocess.run(
        ["docker-compose", "--profile", "cluster", "config"],
        cwd=tmp_path,
        env={**os.environ, "BROKER_NODES": "amqp://u:p@rabbitmq-1//;amqp://u:p@rabbitmq-2//",
             "DJANGO_SECRET_KEY": "k", "JWT_SECRET": "j"},
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    resolved = yaml.safe_load(compose)["services"]
    assert resolved["email-worker"]["environment"]["CELERY_BROKER_URL"] == (
        "amqp://u:p@rabbitmq-1//;amqp://u:p@rabbitmq-2//"
    )
    assert {"rabbitmq-1", "rabbitmq-2", "rabbitmq-3"} <= set(resolved)


def test_compose_refuses_to_start_without_the_secrets():
    services = _compose()["services"]

    for name in [*APP_SERVICES, "migrate"]:
        environment = services[name]["environment"]
        for variable in ("DJANGO_SECRET_KEY", "JWT_SECRET"):
            assert re.fullmatch(rf"\$\{{{variable}:\?.*make secrets.*\}}", environment[variable]), name


def test_the_firebase_key_is_mounted_read_only_into_the_api_and_the_push_worker():
    services = _compose()["services"]

    for name in ["api", "push-worker", "push-urgent-worker"]:
        assert "./serviceAccountKey.json:/app/serviceAccountKey.json:ro" in services[name]["volumes"], name
        assert services[name]["environment"]["FIREBASE_CREDENTIALS"] == "/app/serviceAccountKey.json", name


def test_each_app_service_runs_its_role_of_the_one_image():
    services = _compose()["services"]

    for name in [*APP_SERVICES, "migrate"]:
        assert services[name]["build"] == ".", name
        assert services[name]["image"] == "notifier:local", name
        assert services[name]["command"] == [name], name


# The image: entrypoint roles against the Procfile, the Dockerfile


def _procfile() -> dict[str, str]:
    processes = {}
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            processes[name.strip()] = command.strip()
    return processes


def _entrypoint_roles() -> dict[str, list[str]]:
    """Each `role)` arm of the entrypoint's case statement -> its command lines (comments dropped)."""
    arms = re.findall(
        r"^    ([a-z*-]+)\)\n(.*?)\n\s*;;", ENTRYPOINT.read_text(), flags=re.MULTILINE | re.DOTALL
    )
    return {
        role: [
            line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")
        ]
        for role, body in arms
    }


def test_the_procfile_roles_are_the_expected_ones():
    assert set(_procfile()) == set(PROCFILE_ROLES)


def test_each_procfile_process_is_an_image_role_with_the_same_command():
    processes = _procfile()
    roles = _entrypoint_roles()

    for process, role in PROCFILE_ROLES.items():
        assert roles[role] == [f"exec {roles[role][0].removeprefix('exec ')}"], role
        # shlex drops the quotes the entrypoint puts around "${VAR:-default}".
        assert shlex.split(roles[role][0]) == ["exec", *shlex.split(processes[process])], role


def test_the_migrate_role_migrates_and_declares_the_broker_and_other_commands_pass_through():
    roles = _entrypoint_roles()

    assert roles["migrate"] == ["python manage.py migrate --noinput", "exec python manage.py setup_broker"]
    assert roles["*"] == ['exec "$@"']


def test_the_entrypoint_is_an_executable_posix_shell_script():
    result = subprocess.run(["sh", "-n", str(ENTRYPOINT)], capture_output=True, text=True, timeout=30)

    assert ENTRYPOINT.stat().st_mode & 0o111 == 0o111
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh\n")
    assert result.returncode == 0, result.stderr


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            instructions.append((keyword.upper(), " ".join(rest.split())))
    return instructions


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_the_dockerfile_builds_a_venv_of_runtime_requirements_in_a_builder_stage():
    instructions = _dockerfile_instructions()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    args = dict(rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG" and "=" in rest)

    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE}"]
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert ("COPY", "requirements.txt /tmp/requirements.txt") in instructions
    assert ("RUN", "/opt/venv/bin/pip install -r /tmp/requirements.txt") in instructions
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in _final_stage()
    assert "requirements-dev" not in DOCKERFILE.read_text()


def test_the_image_runs_as_a_non_root_user_with_an_api_healthcheck():
    final = _final_stage()
    users = [rest for keyword, rest in final if keyword == "USER"]
    healthchecks = [rest for keyword, rest in final if keyword == "HEALTHCHECK"]

    assert users == ["10001:10001"]
    assert ("WORKDIR", "/app") in final
    assert ("EXPOSE", "8000") in final
    assert len(healthchecks) == 1
    assert healthchecks[0].endswith('CMD ["python", "deploy/healthcheck.py"]')
    assert ("ENTRYPOINT", '["/app/deploy/docker-entrypoint.sh"]') in final
    assert ("CMD", '["api"]') in final


def test_the_image_collects_static_files_at_build_time_without_a_secret():
    runs = [rest for keyword, rest in _final_stage() if keyword == "RUN"]

    # DEBUG for this one step only: settings refuse known secrets without it, and it needs no secret.
    assert any(run.startswith("DEBUG=true python manage.py collectstatic --noinput") for run in runs)
    assert not any(keyword == "ENV" and "DJANGO_SECRET_KEY" in rest for keyword, rest in _final_stage())


def test_the_build_context_leaves_out_secrets_and_local_state():
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if not line.startswith("#")}

    assert {".venv", "var", ".env", "serviceAccountKey.json", ".git", "staticfiles"} <= patterns
    assert not any(pattern.startswith("!") for pattern in patterns)


# The API container's healthcheck script


class _HealthHandler(BaseHTTPRequestHandler):
    status = 200
    seen: list[dict[str, str]] = []

    def do_GET(self):
        self.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    _HealthHandler.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HealthHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run_healthcheck(port: int, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        env={"PATH": "/usr/bin:/bin", "PORT": str(port), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_healthcheck_passes_when_health_answers_200_with_an_allowed_host(health_server):
    _HealthHandler.status = 200

    result = _run_healthcheck(health_server.server_address[1], ALLOWED_HOSTS=".example.com,localhost")

    assert result.returncode == 0, result.stderr
    assert [(r["path"], r["host"], r["x-forwarded-proto"]) for r in _HealthHandler.seen] == [
        ("/health", "example.com", "https")
    ]


def test_the_healthcheck_fails_when_health_answers_503(health_server):
    _HealthHandler.status = 503

    result = _run_healthcheck(health_server.server_address[1])

    assert result.returncode == 1
    assert [request["host"] for request in _HealthHandler.seen] == ["localhost"]


def test_the_healthcheck_fails_when_nothing_listens(health_server):
    port = health_server.server_address[1]
    health_server.shutdown()
    health_server.server_close()

    result = _run_healthcheck(port)

    assert result.returncode == 1
    assert "unhealthy" in result.stderr


# The CI/CD workflow


def test_the_workflow_tests_every_push_and_pull_request_against_the_real_services():
    workflow = _workflow()
    triggers = workflow[True]  # YAML 1.1 (PyYAML) reads the key `on` as true
    test = workflow["jobs"]["test"]
    steps = test["steps"]

    assert set(triggers) == {"push", "pull_request"}
    assert set(test["services"]) == {"postgres", "redis", "rabbitmq"}
    assert test["services"]["rabbitmq"]["image"] == "rabbitmq:3.13-management"
    assert test["env"]["CELERY_BROKER_URL"].endswith("@127.0.0.1:5672/notifier_test")
    setup_python = next(step for step in steps if step.get("uses", "").startswith("actions/setup-python@"))
    assert setup_python["with"]["python-version"] == "3.11"
    assert [step["run"] for step in steps if step.get("run", "").startswith("make ")] == [
        "make lint",
        "make test",
    ]
    assert "docker exec" in next(step["run"] for step in steps if "rabbitmqctl" in step.get("name", ""))


def test_the_workflow_pushes_the_image_from_main_only_after_the_tests_pass():
    image = _workflow()["jobs"]["image"]
    steps = {step["uses"].split("@")[0]: step for step in image["steps"]}

    assert image["needs"] == "test"
    assert image["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert steps["docker/login-action"]["with"] == {
        "username": "${{ secrets.DOCKER_USERNAME }}",
        "password": "${{ secrets.DOCKER_PASSWORD }}",
    }
    build = steps["docker/build-push-action"]["with"]
    assert build["push"] is True
    assert build["tags"].splitlines() == [
        "${{ secrets.DOCKER_USERNAME }}/notifier:latest",
        "${{ secrets.DOCKER_USERNAME }}/notifier:${{ github.sha }}",
    ]


def test_ensure_test_vhost_opens_the_vhost_to_the_broker_urls_user(monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "ensure_test_vhost", ROOT / "scripts" / "ensure_test_vhost.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://ci%40x:pw@h1:5672/notifier_test;amqp://ci%40x:pw@h2//")
    assert module.broker_user() == "ci@x"
    monkeypatch.delenv("CELERY_BROKER_URL")
    assert module.broker_user() == "guest"
