"""Which lane a send travels in (notifications/channels.py): the one it names; else urgent when its
priority is at least PRIORITY_URGENT_MIN; else the way of sending's own (normal for a single send, bulk
for a batch or a broadcast)."""

from django.conf import settings

from notifications.channels import Lane


def lane_for(*, priority: int, lane: str | None = None, default: Lane) -> Lane:
    if lane:
        return Lane(lane)
    if priority >= settings.PRIORITY_URGENT_MIN:
        return Lane.URGENT
    return default
