"""A production process never starts with a secret everybody knows.

The repository's development defaults (and Django's `django-insecure-` keys) are public: a token signed
with one reads every user. With DEBUG off, settings refuse them at import, naming the variable, so no
process (API, worker, relay, command) runs with them. `make run` writes random ones into `.env`.
"""

from django.core.exceptions import ImproperlyConfigured

DJANGO_SECRET_KEY_DEVELOPMENT_DEFAULT = "django-insecure-notifier-development-key"  # noqa: S105 - refused below
JWT_SECRET_DEVELOPMENT_DEFAULT = "notifier-development-jwt-secret-change-me"  # noqa: S105 - refused below
KNOWN_SECRETS = frozenset({"", DJANGO_SECRET_KEY_DEVELOPMENT_DEFAULT, JWT_SECRET_DEVELOPMENT_DEFAULT})


def secret_is_known(value: str) -> bool:
    return value.strip() in KNOWN_SECRETS or value.startswith("django-insecure-")


def secrets_refuse_known(*, debug: bool, values: dict[str, str]) -> None:
    if debug:
        return
    known = [name for name, value in values.items() if secret_is_known(value)]
    if known:
        raise ImproperlyConfigured(
            f"{' and '.join(known)} {'is' if len(known) == 1 else 'are'} unset or a publicly known default, "
            "and DEBUG is off: refusing to start. Set a long random value in the environment or in .env "
            "(`make secrets` writes fresh ones into .env; `make run` does it for you)."
        )
