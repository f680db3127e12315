"""The delivery channels, named once: their queues, dead-letter queues, routing keys and task names, the
preference keys users set, and the provider lists in settings all derive from this enum.

Plain Python (no Django), so the Celery app can import it before Django's apps are ready.
"""

from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    PUSH = "push"

    @property
    def queue(self) -> str:
        """The channel's work queue (quorum), bound to the main exchange with the channel as routing key."""
        return f"{self.value}.queue"

    @property
    def dlq(self) -> str:
        """The channel's dead-letter queue, bound to the dead-letter exchange with its own name."""
        return f"{self.value}.dlq"

    @property
    def task_name(self) -> str:
        return f"notifications.deliver_{self.value}"

    @property
    def providers_setting(self) -> str:
        """The setting that lists the channel's providers, in order (EMAIL_PROVIDERS, PUSH_PROVIDERS)."""
        return f"{self.name}_PROVIDERS"


CHANNELS: tuple[Channel, ...] = tuple(Channel)
