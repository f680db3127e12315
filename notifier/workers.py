"""The worker command line, written once. Each channel has two pools: the main one serves its normal and
bulk lanes, the urgent one only its urgent lane, so a one-time code never waits behind a bulk send.
`manage.py run_worker <channel> [--urgent]` runs this argv (the Procfile, the image's entrypoint), and the
tests and `make bench` start the same. The `webhook` pool serves webhook.queue (status events to callers)
and housekeeping.queue (the scheduler's retention runs).
"""

import sys

from notifications.channels import CHANNELS, HOUSEKEEPING_QUEUE, WEBHOOK_QUEUE, Channel, Lane

WEBHOOK_POOL = "webhook"
# What `run_worker` takes: a channel, or the webhook pool.
POOLS: tuple[str, ...] = (*CHANNELS, WEBHOOK_POOL)

MAIN_LANES = (Lane.NORMAL, Lane.BULK)
URGENT_LANES = (Lane.URGENT,)


def worker_pool_name(channel: Channel | str, *, urgent: bool) -> str:
    """`email`, `email-urgent`, `webhook`...: the pool's Celery hostname prefix and its name in logs and
    metrics."""
    if channel == WEBHOOK_POOL:
        return WEBHOOK_POOL
    return f"{Channel(channel).value}-urgent" if urgent else Channel(channel).value


def worker_queues(channel: Channel | str, *, urgent: bool) -> list[str]:
    if channel == WEBHOOK_POOL:
        return [WEBHOOK_QUEUE, HOUSEKEEPING_QUEUE]
    return [Channel(channel).lane_queue(lane) for lane in (URGENT_LANES if urgent else MAIN_LANES)]


def worker_argv(
    channel: Channel | str,
    *,
    urgent: bool,
    concurrency: int,
    hostname: str = "",
    loglevel: str = "INFO",
    banner: bool = False,
) -> list[str]:
    """The Celery worker command for one pool (prefork; no gossip or mingle: the pools never talk).
    Celery's start-up banner is plain text on stdout: printed only when asked (on a terminal)."""
    return [
        sys.executable, "-m", "celery", "-A", "notifier", *([] if banner else ["--quiet"]), "worker",
        "--queues", ",".join(worker_queues(channel, urgent=urgent)),
        "--hostname", hostname or f"{worker_pool_name(channel, urgent=urgent)}@%h",
        "--pool", "prefork", "--concurrency", str(concurrency),
        "--without-gossip", "--without-mingle", "--loglevel", loglevel,
    ]  # fmt: skip
