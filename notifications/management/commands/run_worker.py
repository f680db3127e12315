import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from notifier.workers import POOLS, WEBHOOK_POOL, worker_argv


class Command(BaseCommand):
    help = (
        "Runs a Celery worker pool for a channel: its normal and bulk lanes, or with --urgent its urgent "
        "lane only. The process becomes the Celery worker (signals reach it directly). Concurrency "
        "defaults to <CHANNEL>_WORKER_CONCURRENCY, or <CHANNEL>_URGENT_CONCURRENCY with --urgent. "
        "`run_worker webhook` runs the pool that sends status webhooks (WEBHOOK_WORKER_CONCURRENCY)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("channel", help=f"One of: {', '.join(POOLS)}.")
        parser.add_argument("--urgent", action="store_true", help="Serve the channel's urgent lane only.")
        parser.add_argument("--concurrency", type=int, help="Worker processes (default: from settings).")
        parser.add_argument("--loglevel", default="INFO", help="Celery's log level (default INFO).")

    def handle(self, *args: Any, **options: Any) -> None:
        channel = options["channel"]
        if channel not in POOLS:
            raise CommandError(f"Unknown channel {channel!r}; one of: {', '.join(POOLS)}.")
        urgent = options["urgent"]
        if urgent and channel == WEBHOOK_POOL:
            raise CommandError("The webhook pool has no urgent lane.")
        setting = f"{channel.upper()}_{'URGENT' if urgent else 'WORKER'}_CONCURRENCY"
        concurrency = options["concurrency"] or getattr(settings, setting)
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1.")
        argv = worker_argv(
            channel,
            urgent=urgent,
            concurrency=concurrency,
            loglevel=options["loglevel"],
            banner=sys.stdout.isatty(),
        )
        os.execv(argv[0], argv)  # noqa: S606 - our own interpreter, with arguments built above
