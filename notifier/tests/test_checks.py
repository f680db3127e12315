"""`manage.py check --deploy` flags a development JWT secret, and is clean with production settings."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def test_the_development_jwt_secret_is_flagged(settings):
    settings.JWT_SECRET = settings.JWT_SECRET_DEVELOPMENT_DEFAULT

    with pytest.raises(SystemCheckError, match=r"notifier\.W001"):
        call_command("check", "--deploy", "--fail-level", "WARNING", "--tag", "security")


def test_a_long_random_jwt_secret_passes_our_check(settings):
    from notifier.checks import jwt_secret_check

    settings.JWT_SECRET = "k" * 48

    assert jwt_secret_check(None) == []


ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENVIRONMENT = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "notifier.example.com",
    "HTTPS": "true",
    "BEHIND_TLS_PROXY": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def _check_deploy(**environment: str) -> subprocess.CompletedProcess[str]:
    # Variables a developer's shell (or .env) may set that would change the verdict are pinned here.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "notifier.settings", **environment}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_deploy_is_clean_with_the_documented_production_settings():
    result = _check_deploy(
        **PRODUCTION_ENVIRONMENT,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SECRET=secrets.token_urlsafe(48),
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"DJANGO_SECRET_KEY": "django-insecure-notifier-development-key"}, "DJANGO_SECRET_KEY"),
        ({"JWT_SECRET": "notifier-development-jwt-secret-change-me"}, "JWT_SECRET"),
        ({"JWT_SECRET": ""}, "JWT_SECRET"),
        ({"DJANGO_SECRET_KEY": "django-insecure-0123456789abcdef"}, "DJANGO_SECRET_KEY"),
    ],
)
def test_without_debug_no_process_starts_with_a_known_secret(environment, named):
    result = _check_deploy(
        **{
            **PRODUCTION_ENVIRONMENT,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "JWT_SECRET": secrets.token_urlsafe(48),
            **environment,
        }
    )

    assert result.returncode == 1
    assert "ImproperlyConfigured" in result.stderr
    assert f"{named} is unset or a publicly known default" in result.stderr


def test_with_debug_the_development_defaults_still_serve_and_are_flagged():
    result = _check_deploy(
        DEBUG="true",
        DJANGO_SECRET_KEY="django-insecure-notifier-development-key",
        JWT_SECRET="notifier-development-jwt-secret-change-me",
    )

    assert result.returncode == 1
    assert "notifier.W001" in result.stderr
    assert "security.W009" in result.stderr


def _ensure_secrets(env_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/ensure_secrets.py"],
        cwd=ROOT,
        env={**os.environ, "NOTIFIER_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )


def _env_values(env_file: Path) -> dict[str, str]:
    lines = [line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line]
    return {name.strip(): value for name, value in lines if not name.startswith("#")}


def test_make_secrets_writes_fresh_random_secrets_once_and_keeps_them(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=false")  # a hand-written file without a final newline

    _ensure_secrets(env_file)
    first = _env_values(env_file)
    _ensure_secrets(env_file)
    other = tmp_path / "other.env"
    _ensure_secrets(other)

    assert _env_values(env_file) == first
    assert first["DEBUG"] == "false"
    assert len(first["DJANGO_SECRET_KEY"]) >= 50 and len(first["JWT_SECRET"]) >= 48
    assert _env_values(other)["JWT_SECRET"] != first["JWT_SECRET"]
    assert env_file.stat().st_mode & 0o777 == 0o600


def test_make_secrets_never_replaces_a_secret_set_by_hand(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("export JWT_SECRET=chosen-by-the-operator-and-long-enough-000000\n")

    _ensure_secrets(env_file)

    values = _env_values(env_file)
    assert values["export JWT_SECRET"] == "chosen-by-the-operator-and-long-enough-000000"
    assert "JWT_SECRET" not in values
    assert len(values["DJANGO_SECRET_KEY"]) >= 50
