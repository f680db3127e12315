"""`manage.py check --deploy` flags a development JWT secret."""

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
