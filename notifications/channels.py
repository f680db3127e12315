"""The delivery channels and their lanes, named once: their queues, dead-letter queues, routing keys and
task names, the preference keys users set, and the provider lists in settings all derive from these enums.

Each channel has three lanes, each its own queue: `urgent` (one-time codes, password resets: priority at
least PRIORITY_URGENT_MIN), `normal` (a single send), and `bulk` (batch and topic sends). The normal lane's
queue keeps the channel's historical name (`email.queue`); the others are `email.urgent.queue` and
`email.bulk.queue`. A message's routing key names its lane, so every consumer knows where it came from.

Plain Python (no Django), so the Celery app can import it before Django's apps are ready.
"""

from enum import StrEnum


class Lane(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"
    BULK = "bulk"


LANES: tuple[Lane, ...] = tuple(Lane)


class Channel(StrEnum):
    EMAIL = "email"
    PUSH = "push"

    @property
    def queue(self) -> str:
        """The channel's normal-lane work queue (quorum)."""
        return self.lane_queue(Lane.NORMAL)

    def lane_queue(self, lane: Lane | str) -> str:
        """A lane's work queue, bound to the main exchange with `routing_key(lane)`."""
        lane = Lane(lane)
        return f"{self.value}.queue" if lane == Lane.NORMAL else f"{self.value}.{lane.value}.queue"

    def routing_key(self, lane: Lane | str) -> str:
        lane = Lane(lane)
        return self.value if lane == Lane.NORMAL else f"{self.value}.{lane.value}"

    @property
    def queues(self) -> tuple[str, ...]:
        """Every lane's queue, urgent first."""
        return tuple(self.lane_queue(lane) for lane in LANES)

    @property
    def dlq(self) -> str:
        """The channel's dead-letter queue (all its lanes'), bound to the dead-letter exchange with its
        own name."""
        return f"{self.value}.dlq"

    @property
    def task_name(self) -> str:
        return f"notifications.deliver_{self.value}"

    @property
    def providers_setting(self) -> str:
        """The setting that lists the channel's providers, in order (EMAIL_PROVIDERS, PUSH_PROVIDERS)."""
        return f"{self.name}_PROVIDERS"


CHANNELS: tuple[Channel, ...] = tuple(Channel)


def lane_of_routing_key(routing_key: str) -> Lane:
    """The lane a message was routed to, from its routing key (`email`, `email.urgent`, ...)."""
    _, _, lane = routing_key.partition(".")
    return Lane(lane) if lane in Lane.__members__.values() else Lane.NORMAL


# The webhook pool's queue: signed status events to callers' endpoints (notifications/webhooks/). Its
# messages carry event ids; PostgreSQL holds the events, so a message lost or dropped loses nothing.
WEBHOOK_QUEUE = "webhook.queue"
WEBHOOK_ROUTING_KEY = "webhook"
WEBHOOK_TASK_NAME = "notifications.deliver_webhooks"
# The scheduler's housekeeping task (retention, expired tokens and sessions), run by the webhook pool.
HOUSEKEEPING_QUEUE = "housekeeping.queue"
HOUSEKEEPING_ROUTING_KEY = "housekeeping"
HOUSEKEEPING_TASK_NAME = "notifications.housekeeping"
# The scheduler's queue depth samples for the operations page's trend, on the same queue.
QUEUE_SAMPLE_TASK_NAME = "notifications.sample_queue_depths"
