"""`manage.py stats [--window 24h] [--json]`: the pipeline at a glance, results on stdout."""

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from notifications.broker.connection import BROKER_ERRORS
from notifications.management.durations import duration_parse
from notifications.selectors import (
    broker_queue_depths,
    fan_out_backlog_get,
    notification_status_counts,
    oldest_unfinished_get,
    outbox_backlog_get,
    outbox_waiting_get,
)


class Command(BaseCommand):
    help = (
        "Notifications created in a time window by channel and status, the oldest one not finished, the "
        "outbox and fan-out backlogs, and each queue's and dead-letter queue's depth (when the broker "
        "answers). --json prints the same as one JSON object, for scripts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--window", default="24h", help="How far back to count, e.g. 30m, 24h, 7d (default 24h)."
        )
        parser.add_argument("--json", action="store_true", help="One JSON object on stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        window = duration_parse(options["window"], option="--window")
        since = timezone.now() - window
        oldest = oldest_unfinished_get()
        fan_out = fan_out_backlog_get()
        report: dict[str, Any] = {
            "window_seconds": int(window.total_seconds()),
            "since": since.isoformat(),
            "notifications": notification_status_counts(since=since),
            "oldest_unfinished": None
            if oldest is None
            else {
                "notification_id": str(oldest.id),
                "status": oldest.status,
                "age_seconds": round((timezone.now() - oldest.created_at).total_seconds(), 1),
            },
            "outbox_backlog": outbox_backlog_get(),
            "outbox_waiting": outbox_waiting_get(),
            "broadcasts_expanding": fan_out.broadcasts,
            "queues": None,
        }
        try:
            depths = broker_queue_depths(timeout=settings.METRICS_BROKER_TIMEOUT_SECONDS)
        except BROKER_ERRORS as exc:
            report["broker_error"] = f"{exc.__class__.__name__}: {exc}"
        else:
            report["queues"] = {
                depth.queue: {"messages": depth.messages, "consumers": depth.consumers} for depth in depths
            }
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self._print(report)

    def _print(self, report: dict[str, Any]) -> None:
        out = self.stdout.write
        hours = timedelta(seconds=report["window_seconds"]) / timedelta(hours=1)
        out(f"notifications created in the last {hours:g} h, by channel and status:")
        for channel, statuses in sorted(report["notifications"].items()):
            counts = ", ".join(f"{status} {count}" for status, count in sorted(statuses.items()))
            out(f"  {channel:8} {counts}")
        if not report["notifications"]:
            out("  none")
        oldest = report["oldest_unfinished"]
        out(
            "oldest not finished: none"
            if oldest is None
            else f"oldest not finished: {oldest['notification_id']} ({oldest['status']}, "
            f"{oldest['age_seconds']:g} s old)"
        )
        out(f"outbox: {report['outbox_backlog']} due, {report['outbox_waiting']} waiting (not yet due)")
        out(f"broadcasts expanding: {report['broadcasts_expanding']}")
        if report["queues"] is None:
            out(self.style.WARNING(f"queues: the broker did not answer ({report['broker_error']})"))
            return
        out("queues (messages / consumers):")
        width = max((len(name) for name in report["queues"]), default=0)
        for name, depth in report["queues"].items():
            out(f"  {name:{width}} {depth['messages']} / {depth['consumers']}")
