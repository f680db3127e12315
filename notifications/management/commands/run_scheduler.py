import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Runs the scheduler (Celery beat): sends the housekeeping task (retention, expired tokens and "
        "sessions) every HOUSEKEEPING_INTERVAL_SECONDS to housekeeping.queue, which the webhook pool "
        "serves. Run one. Its logs are JSON lines; Celery's banner shows on a "
        "terminal only. The process becomes Celery beat; its schedule file is var/celerybeat-schedule."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loglevel", default="INFO", help="Celery's log level (default INFO).")

    def handle(self, *args: Any, **options: Any) -> None:
        state = Path(settings.BASE_DIR) / "var" / "celerybeat-schedule"
        state.parent.mkdir(parents=True, exist_ok=True)
        banner = [] if sys.stdout.isatty() else ["--quiet"]
        argv = [
            sys.executable, "-m", "celery", "-A", "notifier", *banner, "beat",
            "--schedule", str(state), "--loglevel", options["loglevel"],
        ]  # fmt: skip
        os.execv(argv[0], argv)  # noqa: S606 - our own interpreter, with arguments built above
