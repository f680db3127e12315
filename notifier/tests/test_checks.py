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


def test_check_deploy_flags_the_development_secrets():
    result = _check_deploy(
        **PRODUCTION_ENVIRONMENT,
        DJANGO_SECRET_KEY="django-insecure-notifier-development-key",
        JWT_SECRET="notifier-development-jwt-secret-change-me",
    )

    assert result.returncode == 1
    assert "notifier.W001" in result.stderr
    assert "security.W009" in result.stderr
