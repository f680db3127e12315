"""The providers of each channel, from settings: EMAIL_PROVIDERS and PUSH_PROVIDERS list them in order of
preference. An entry is the import string of a provider class, or an object naming the class, the
provider's own name and its options:

    {"class": "notifications.providers.smtp.SmtpProvider", "name": "backup-smtp",
     "options": {"host": "smtp.backup.example", "port": 587, "username": "...", "password": "..."}}

so one channel can have two accounts of the same kind. Each provider is made once per process (after the
worker pool's fork: nothing here runs at import) and has a circuit breaker of its own, named
`<channel>.<provider name>`; the names of a channel's providers must differ.

Changing a provider setting (override_settings in tests) closes the providers and makes them anew.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from notifications.channels import Channel
from notifications.providers.base import DEVICE_KIND_FCM

logger = logging.getLogger(__name__)

# "auto" in PUSH_PROVIDERS: Firebase when its credentials file exists, else the dry-run file outbox.
AUTO = "auto"
FCM = "notifications.providers.fcm.FirebasePushProvider"
PUSH_FILE = "notifications.providers.push_file.FilePushProvider"
# "webpush" in PUSH_PROVIDERS: browsers' subscriptions through Web Push (VAPID).
WEB_PUSH_ALIAS = "webpush"
WEB_PUSH = "notifications.providers.web_push.WebPushProvider"

# Settings that change what a provider does once made.
_PROVIDER_SETTINGS = frozenset(
    {
        "EMAIL_PROVIDERS", "PUSH_PROVIDERS", "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_FILE_PATH",
        "SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASS", "SMTP_USE_TLS", "SMTP_USE_SSL",
        "SMTP_CONNECTIONS", "SMTP_TIMEOUT_SECONDS", "FIREBASE_CREDENTIALS", "FCM_ENDPOINT",
        "FCM_TIMEOUT_SECONDS", "PUSH_FILE_PATH", "DEFAULT_FROM_EMAIL", "WEB_PUSH_VAPID_PRIVATE_KEY",
        "WEB_PUSH_ALLOW_HTTP", "WEB_PUSH_ALLOW_PRIVATE", "WEB_PUSH_TIMEOUT_SECONDS",
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

    @property
    def device_kinds(self) -> frozenset[str]:
        """The push device kinds it delivers (providers.base); FCM tokens unless it says otherwise."""
        return frozenset(getattr(self.provider, "device_kinds", {DEVICE_KIND_FCM}))


_made: dict[Channel, list[ProviderSlot]] = {}


@dataclass(frozen=True)
class ProviderSpec:
    """One entry of a channel's provider list: the class's import string, the provider's name ("" for the
    class's own), and the options its constructor takes."""

    path: str
    name: str = ""
    options: dict[str, Any] = field(default_factory=dict)


def _import_path(path: str) -> str:
    if path == AUTO:
        return FCM if Path(settings.FIREBASE_CREDENTIALS).is_file() else PUSH_FILE
    if path == WEB_PUSH_ALIAS:
        return WEB_PUSH
    return path


def provider_specs(channel: Channel | str) -> list[ProviderSpec]:
    """The channel's provider list as its setting gives it, checked (ImproperlyConfigured otherwise)."""
    channel = Channel(channel)
    setting = channel.providers_setting
    specs = []
    for entry in getattr(settings, setting):
        if isinstance(entry, str):
            specs.append(ProviderSpec(_import_path(entry)))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("class"), str):
            raise ImproperlyConfigured(f"{setting}: each entry is an import string or has a 'class'")
        unknown = set(entry) - {"class", "name", "options"}
        if unknown or not isinstance(entry.get("options", {}), dict):
            raise ImproperlyConfigured(f"{setting}: an entry takes class, name and options (an object)")
        specs.append(
            ProviderSpec(_import_path(entry["class"]), str(entry.get("name") or ""), entry.get("options", {}))
        )
    if not specs:
        raise ImproperlyConfigured(f"{setting} names no provider")
    return specs


def _make(spec: ProviderSpec) -> Any:
    provider = import_string(spec.path)(**spec.options)
    if spec.name:
        provider.name = spec.name
    return provider


def provider_names_repeated(names: list[str]) -> list[str]:
    """The provider names that occur more than once in a channel's list (each breaker needs its own)."""
    return sorted({name for name in names if names.count(name) > 1})


def providers_for(channel: Channel | str) -> list[ProviderSlot]:
    """The channel's providers, in the order of its setting."""
    channel = Channel(channel)
    if channel not in _made:
        slots = [ProviderSlot(channel, _make(spec)) for spec in provider_specs(channel)]
        names = [slot.name for slot in slots]
        if provider_names_repeated(names):
            for slot in slots:
                slot.provider.close()
            raise ImproperlyConfigured(
                f"{channel.providers_setting}: two providers are named alike ({names}); give each a name"
            )
        _made[channel] = slots
        logger.info("providers selected", extra={"channel": channel.value, "providers": names})
    return _made[channel]


def provider_for(channel: Channel | str) -> ProviderSlot:
    """The channel's first provider: the one that delivers while its breaker is closed."""
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
        for spec in provider_specs(channel):
            name = spec.name or getattr(import_string(spec.path), "name", None)
            if not isinstance(name, str):  # a name known once made (DjangoMailProvider's backend)
                name = _make(spec).name
            names.append(f"{channel.value}.{name}")
    return names


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _PROVIDER_SETTINGS:
        providers_close()
