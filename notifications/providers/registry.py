"""The providers of each channel, from settings: EMAIL_PROVIDERS and PUSH_PROVIDERS list import strings of
provider classes, in order. Each is made once per process (after the worker pool's fork: nothing here runs
at import) and has a circuit breaker of its own, named `<channel>.<provider name>`.

Changing a provider setting (override_settings in tests) closes the providers and makes them anew.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from notifications.channels import Channel

logger = logging.getLogger(__name__)

# "auto" in PUSH_PROVIDERS: Firebase when its credentials file exists, else the dry-run file outbox.
AUTO = "auto"
FCM = "notifications.providers.fcm.FirebasePushProvider"
PUSH_FILE = "notifications.providers.push_file.FilePushProvider"

# Settings that change what a provider does once made.
_PROVIDER_SETTINGS = frozenset(
    {
        "EMAIL_PROVIDERS", "PUSH_PROVIDERS", "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_FILE_PATH",
        "SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASS", "SMTP_USE_TLS", "SMTP_USE_SSL",
        "SMTP_CONNECTIONS", "SMTP_TIMEOUT_SECONDS", "FIREBASE_CREDENTIALS", "FCM_ENDPOINT",
        "FCM_TIMEOUT_SECONDS", "PUSH_FILE_PATH", "DEFAULT_FROM_EMAIL",
    }
)  # fmt: skip


@dataclass(frozen=True)
class ProviderSlot:
    channel: Channel
    provider: Any  # an EmailProvider or a PushProvider (providers.base)

    @property
    def name(self) -> str:
        return str(self.provider.name)

    @property
    def breaker_name(self) -> str:
        return f"{self.channel.value}.{self.provider.name}"


_made: dict[Channel, list[ProviderSlot]] = {}


def _import_path(path: str) -> str:
    if path == AUTO:
        return FCM if Path(settings.FIREBASE_CREDENTIALS).is_file() else PUSH_FILE
    return path


def providers_for(channel: Channel | str) -> list[ProviderSlot]:
    """The channel's providers, in the order of its setting."""
    channel = Channel(channel)
    if channel not in _made:
        paths = [_import_path(path) for path in getattr(settings, channel.providers_setting)]
        if not paths:
            raise ValueError(f"{channel.providers_setting} names no provider")
        slots = [ProviderSlot(channel, import_string(path)()) for path in paths]
        _made[channel] = slots
        logger.info(
            "providers selected", extra={"channel": channel.value, "providers": [s.name for s in slots]}
        )
    return _made[channel]


def provider_for(channel: Channel | str) -> ProviderSlot:
    """The provider that delivers the channel now: the first of its list."""
    return providers_for(channel)[0]


def providers_close() -> None:
    """Closes every provider's kept connections and forgets them; the next use makes them anew."""
    for slots in _made.values():
        for slot in slots:
            try:
                slot.provider.close()
            except Exception:
                logger.debug("closing a provider failed", exc_info=True)
    _made.clear()


def breaker_names_configured() -> list[str]:
    """The breaker of every configured provider, without making (or connecting) the providers."""
    names = []
    for channel in Channel:
        for path in getattr(settings, channel.providers_setting):
            cls = import_string(_import_path(path))
            name = getattr(cls, "name", None)
            if not isinstance(name, str):  # a name known once made (DjangoMailProvider's backend)
                name = cls().name
            names.append(f"{channel.value}.{name}")
    return names


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _PROVIDER_SETTINGS:
        providers_close()
