"""What the operations page draws: queue depths over the last hour (samples kept in Redis, taken when the
page is viewed and by the scheduler every QUEUE_SAMPLE_INTERVAL_SECONDS) and notifications sent and failed
per minute (counted in PostgreSQL). Losing Redis loses only the depth trend, never a notification."""

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count
from django.db.models.functions import TruncMinute
from django.utils import timezone
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from notifications.broker.connection import BROKER_ERRORS
from notifications.models import Notification
from notifications.selectors import QueueDepth, broker_queue_depths

logger = logging.getLogger(__name__)

SAMPLES_KEY = "notifier:ops:queue-depths"
TREND_SECONDS = 3600


@dataclass(frozen=True)
class DepthSample:
    at: float  # unix time
    depths: dict[str, int]  # queue -> messages


def queue_depths_sample_record(*, depths: list[QueueDepth], now: float | None = None) -> None:
    """Keeps one sample of every queue's depth; at most one per QUEUE_SAMPLE_INTERVAL_SECONDS / 2, and
    only the last hour's."""
    now = time.time() if now is None else now
    sample = json.dumps({"at": now, "depths": {d.queue: d.messages for d in depths}})
    try:
        client = get_redis_connection("default")
        latest = client.lindex(SAMPLES_KEY, 0)
        if latest is not None and now - json.loads(latest)["at"] < settings.QUEUE_SAMPLE_INTERVAL_SECONDS / 2:
            return
        keep = TREND_SECONDS // max(settings.QUEUE_SAMPLE_INTERVAL_SECONDS // 2, 1) + 1
        with client.pipeline() as pipe:
            pipe.lpush(SAMPLES_KEY, sample).ltrim(SAMPLES_KEY, 0, keep).execute()
    except RedisError as exc:
        logger.warning("queue depth sample not kept", extra={"error": repr(exc)})


def queue_depths_sample() -> None:
    """The scheduler's job: read the depths from the broker and keep them (nothing when it is down)."""
    try:
        depths = broker_queue_depths(timeout=settings.METRICS_BROKER_TIMEOUT_SECONDS)
    except BROKER_ERRORS as exc:
        logger.warning("queue depths not sampled: the broker did not answer", extra={"error": repr(exc)})
        return
    queue_depths_sample_record(depths=depths)


def queue_depth_trend(*, now: float | None = None) -> list[DepthSample]:
    """The last hour's samples, oldest first (empty when Redis is down or was flushed)."""
    now = time.time() if now is None else now
    try:
        raw = get_redis_connection("default").lrange(SAMPLES_KEY, 0, -1)
    except RedisError as exc:
        logger.warning("queue depth trend unavailable", extra={"error": repr(exc)})
        return []
    samples = [json.loads(item) for item in raw]
    return [
        DepthSample(at=s["at"], depths=s["depths"])
        for s in reversed(samples)
        if now - s["at"] <= TREND_SECONDS
    ]


def outcomes_per_minute(*, now: datetime | None = None) -> list[tuple[datetime, int, int]]:
    """Notifications sent and failed in each minute of the last hour: (minute, sent, failed), oldest
    first, every minute present."""
    now = now or timezone.now()
    end = now.replace(second=0, microsecond=0)
    start = end - timedelta(minutes=59)
    counts: dict[tuple[str, datetime], int] = {}
    for field in ("sent_at", "failed_at"):
        rows = (
            Notification.objects.filter(**{f"{field}__gte": start})
            .annotate(minute=TruncMinute(field))
            .values("minute")
            .annotate(n=Count("id"))
        )
        for row in rows:
            counts[(field, row["minute"])] = row["n"]
    minutes = [start + timedelta(minutes=i) for i in range(60)]
    return [(m, counts.get(("sent_at", m), 0), counts.get(("failed_at", m), 0)) for m in minutes]
