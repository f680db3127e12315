"""System checks of the notifications app: the provider lists are checked when any command starts
(`migrate` under `make run` and the image's migrate step, `check`), so a typo in EMAIL_PROVIDERS stops
the start with its reason instead of failing every delivery."""

import inspect
from typing import Any

from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from notifications.channels import CHANNELS, Channel
from notifications.providers.registry import provider_names_repeated, provider_specs


def _spec_errors(channel: str, setting: str) -> list[Error]:
    try:
        specs = provider_specs(channel)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="notifications.E001")]
    errors, names = [], []
    for spec in specs:
        try:
            cls = import_string(spec.path)
        except ImportError as exc:
            errors.append(Error(f"{setting}: {spec.path} cannot be imported: {exc}", id="notifications.E002"))
            continue
        try:
            inspect.signature(cls).bind(**spec.options)
        except TypeError as exc:
            errors.append(
                Error(f"{setting}: {spec.path} does not take these options: {exc}", id="notifications.E003")
            )
        name = spec.name or getattr(cls, "name", None)
        if isinstance(name, str):
            names.append(name)
    duplicates = provider_names_repeated(names)
    if duplicates:
        errors.append(
            Error(
                f'{setting}: providers named alike ({", ".join(duplicates)}); give each a "name"',
                id="notifications.E004",
            )
        )
    return errors


@register()
def provider_settings_check(app_configs: Any, **kwargs: Any) -> list[Error]:
    errors: list[Error] = []
    for channel in CHANNELS:
        errors += _spec_errors(channel, channel.providers_setting)
    return errors


@register()
def web_push_settings_check(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Web Push in PUSH_PROVIDERS without a VAPID key sends nothing to browsers: said at start."""
    from django.conf import settings

    from notifications.providers.registry import WEB_PUSH

    try:
        paths = [spec.path for spec in provider_specs(Channel.PUSH)]
    except ImproperlyConfigured:
        return []  # reported by provider_settings_check
    if WEB_PUSH in paths and not (settings.WEB_PUSH_VAPID_PRIVATE_KEY and settings.WEB_PUSH_VAPID_PUBLIC_KEY):
        return [
            Warning(
                "Web Push is in PUSH_PROVIDERS without a VAPID key pair: browsers' pushes fail.",
                hint="Set WEB_PUSH_VAPID_PRIVATE_KEY and WEB_PUSH_VAPID_PUBLIC_KEY (`make secrets` writes "
                "a pair).",
                id="notifications.W005",
            )
        ]
    return []
