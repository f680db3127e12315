import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError

from notifications.services.outbox import outbox_relay_once


class Command(BaseCommand):
    help = (
        "Runs the outbox relay: re-publishes every notification whose task message the broker has not "
        "confirmed within OUTBOX_RELAY_GRACE_SECONDS. Several relays may run at once."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="Relay one batch and exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if options["once"]:
            count = outbox_relay_once()
            self.stdout.write(self.style.SUCCESS(f"relayed {count}"))
            return
        self.stdout.write(self.style.SUCCESS("outbox relay running"))
        while not stopping:
            try:
                count = outbox_relay_once()
            except (OperationalError, InterfaceError) as exc:
                self.stderr.write(f"database unavailable: {exc}")
                count = 0
            if count < settings.OUTBOX_RELAY_BATCH:
                time.sleep(settings.OUTBOX_RELAY_INTERVAL_SECONDS)
