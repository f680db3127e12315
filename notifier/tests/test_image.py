"""The container image and the compose file, checked for what only shows when they run, without a
container engine: hadolint on the Dockerfile, Debian's docker-compose 1.29 on the compose file (older
tools reject newer syntax), and the image's file tree built as the Dockerfile builds it, then written
to by its runtime user wherever the processes write."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from notifier.tests.test_deploy_files import _final_stage

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert path, f"{name} is missing: `make test` installs it (make install, make compose-tools)"
    return path


def test_hadolint_finds_nothing_in_the_dockerfile():
    result = subprocess.run(
        [_tool("hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def compose_dir(tmp_path) -> Path:
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    return tmp_path


def _compose_config(directory: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "JWT_SECRET")}
    return subprocess.run(
        [_tool("docker-compose"), "config"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_docker_compose_1_29_accepts_the_compose_file_with_the_secrets_in_env(compose_dir):
    (compose_dir / ".env").write_text("DJANGO_SECRET_KEY=k-from-env-file\nJWT_SECRET=j-from-env-file\n")

    result = _compose_config(compose_dir)

    assert result.returncode == 0, result.stderr
    api = yaml.safe_load(result.stdout)["services"]["api"]["environment"]
    assert (api["DJANGO_SECRET_KEY"], api["JWT_SECRET"]) == ("k-from-env-file", "j-from-env-file")


def test_docker_compose_refuses_to_start_without_the_secrets(compose_dir):
    (compose_dir / ".env").write_text("DEBUG=false\n")

    result = _compose_config(compose_dir)

    assert result.returncode != 0
    assert "(make secrets writes one)" in result.stderr


def test_the_compose_api_healthcheck_is_the_images():
    [image_check] = [rest for keyword, rest in _final_stage() if keyword == "HEALTHCHECK"]
    compose_check = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["api"][
        "healthcheck"
    ]
    options = dict(re.findall(r"--([a-z-]+)=(\S+)", image_check))

    assert image_check.endswith(f"CMD {compose_check['test'][1:]}".replace("'", '"'))
    assert compose_check["test"][0] == "CMD"
    assert (options["interval"], options["timeout"], options["retries"], options["start-period"]) == (
        compose_check["interval"],
        compose_check["timeout"],
        str(compose_check["retries"]),
        compose_check["start_period"],
    )


# --- the image's file tree and its runtime user


def _final(keyword: str) -> list[str]:
    return [rest for k, rest in _final_stage() if k == keyword]


def _ignored(name: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(Path(name).match(pattern.removeprefix("**/")) for pattern in patterns)


@pytest.fixture
def image_tree() -> Iterator[dict[str, Path]]:
    """/app and the home directory as the final stage lays them out, under a directory every user can
    traverse (as / is in the image), with the Dockerfile's own RUN step run on it."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as the image's runtime user")
    base = Path(tempfile.mkdtemp(prefix="notifier-image-", dir="/tmp"))
    base.chmod(0o755)
    app = base / "app"
    try:
        shutil.copytree(ROOT, app, ignore=lambda _, names: [n for n in names if _ignored(n)])
        [useradd] = [run for run in _final("RUN") if "useradd" in run]
        home = re.search(r"--home-dir (\S+)", useradd).group(1)  # type: ignore[union-attr]
        uid, gid = (int(part) for part in _final("USER")[0].split(":"))
        home_path = base / home.lstrip("/")
        if "--create-home" in useradd:
            home_path.mkdir(parents=True)
            os.chown(home_path, uid, gid)
        [build_step] = [run for run in _final("RUN") if "collectstatic" in run]
        env = {k: v for k, v in os.environ.items() if k not in ("STATIC_FILES_STORAGE", "DJANGO_SECRET_KEY")}
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
        subprocess.run(
            ["/bin/sh", "-c", build_step.replace("/app", str(app))], cwd=app, env=env, check=True, timeout=120
        )
        tmp = base / "tmp"
        tmp.mkdir()
        tmp.chmod(0o1777)
        envs = dict(re.findall(r"(\w+)=(\S+)", " ".join(_final("ENV"))))
        home_in_image = envs.get("HOME", home)
        yield {"app": app, "home": base / home_in_image.lstrip("/"), "tmp": tmp, "uid": uid, "gid": gid}  # type: ignore[dict-item]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _as_runtime_user(tree: dict, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", script],
        cwd=tree["app"],
        env={"HOME": str(tree["home"]), "TMPDIR": str(tree["tmp"]), "PATH": "/usr/bin:/bin"},
        user=tree["uid"],
        group=tree["gid"],
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    "what",
    [
        # gunicorn 27 creates its control socket under $HOME/.gunicorn
        'mkdir -p "$HOME/.gunicorn" && : > "$HOME/.gunicorn/gunicorn.ctl"',
        # the file outboxes (EMAIL_FILE_PATH, PUSH_FILE_PATH; the compose file's `outbox` volume)
        ": > var/mail/probe.eml && : > var/push/probe.json",
        # the API's metrics directory (PROMETHEUS_MULTIPROC_DIR's default, under the temporary directory)
        'd="$TMPDIR/notifier-metrics-api-8000" && mkdir -p "$d" && : > "$d/counter_1.db"',
        # the static files collected at build time are read by whitenoise
        "test -r staticfiles/staticfiles.json && test -r staticfiles/admin/css/base.css",
    ],
)
def test_the_runtime_user_can_write_what_the_processes_write(image_tree, what):
    result = _as_runtime_user(image_tree, what)

    assert result.returncode == 0, f"{what}: {result.stderr}"


def test_the_runtime_user_cannot_change_the_code(image_tree):
    result = _as_runtime_user(image_tree, ": > manage.py")

    assert result.returncode != 0
    assert "Permission denied" in result.stderr
