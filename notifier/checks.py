"""System checks of our own; `manage.py check --deploy` runs the deploy-tagged ones."""

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register

from notifier.settings.secret_keys import secret_is_known


@register(Tags.security, deploy=True)
def jwt_secret_check(app_configs: Any, **kwargs: Any) -> list[Warning]:
    secret = settings.JWT_SECRET
    if secret_is_known(secret) or len(secret) < 32:
        return [
            Warning(
                "JWT_SECRET is the development default or shorter than 32 characters.",
                hint="Set JWT_SECRET to a long random value, e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`.",
                id="notifier.W001",
            )
        ]
    return []
