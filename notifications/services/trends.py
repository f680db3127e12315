"""What the operations page draws: queue depths over the last hour (samples kept in Redis, taken when the
page is viewed and by the scheduler every QUEUE_SAMPLE_INTERVAL_SECONDS) and delivery attempts sent and
failed per minute (counted in PostgreSQL). Losing Redis loses only the depth trend, never a notification."""

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
from notifications.models import AttemptOutcome, DeliveryAttempt
from notifications.selectors import QueueDepth, broker_queue_depths

logger = logging.getLogger(__name__)

SAMPLES_KEY = "notifier:ops:queue-depths"
FAILED_OUTCOMES = (AttemptOutcome.TRANSIENT_ERROR, AttemptOutcome.PERMANENT_ERROR)
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
    """Delivery attempts that sent and that failed (to be retried, or for good) in each minute of the last
    hour: (minute, sent, failed), oldest first, every minute present.

    Read from the attempts by primary key: the newest attempt that finished before the hour bounds the
    range (found by walking the key backwards), so the cost is the hour's attempts, not the table's."""
    now = now or timezone.now()
    end = now.replace(second=0, microsecond=0)
    start = end - timedelta(minutes=59)
    boundary = (
        DeliveryAttempt.objects.filter(finished_at__lt=start)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    rows = (
        DeliveryAttempt.objects.filter(id__gt=boundary or 0, finished_at__gte=start)
        .annotate(minute=TruncMinute("finished_at"))
        .values("minute", "outcome")
        .annotate(n=Count("id"))
    )
    sent: dict[datetime, int] = {}
    failed: dict[datetime, int] = {}
    for row in rows:
        if row["outcome"] == AttemptOutcome.SENT:
            sent[row["minute"]] = sent.get(row["minute"], 0) + row["n"]
        elif row["outcome"] in FAILED_OUTCOMES:
            failed[row["minute"]] = failed.get(row["minute"], 0) + row["n"]
    minutes = [start + timedelta(minutes=i) for i in range(60)]
    return [(m, sent.get(m, 0), failed.get(m, 0)) for m in minutes]
