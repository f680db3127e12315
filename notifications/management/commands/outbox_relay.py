import logging
import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, close_old_connections

from notifications.services.outbox import outbox_relay_once
from notifications.services.publisher import BatchPublisher, PublishFailed

logger = logging.getLogger(__name__)

# After a failed batch the relay waits, doubling up to this, so a broker outage is not hammered.
MAX_BACKOFF_SECONDS = 5.0


class Command(BaseCommand):
    help = (
        "Runs the outbox relay: publishes accepted notifications to RabbitMQ in batches with publisher "
        "confirms. Several relays may run at once (rows are taken with SKIP LOCKED)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="Relay one batch and exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        publisher = BatchPublisher()
        if options["once"]:
            count = outbox_relay_once(publisher=publisher)
            publisher.close()
            self.stdout.write(self.style.SUCCESS(f"relayed {count}"))
            return

        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(self.style.SUCCESS("outbox relay running"))
        backoff = 0.0
        while not stopping:
            try:
                count = outbox_relay_once(publisher=publisher)
                backoff = 0.0
            except PublishFailed as exc:
                backoff = min(max(backoff * 2, 0.25), MAX_BACKOFF_SECONDS)
                logger.warning("broker unavailable; retrying", extra={"error": str(exc), "backoff": backoff})
                count = 0
            except (OperationalError, InterfaceError) as exc:
                backoff = min(max(backoff * 2, 0.25), MAX_BACKOFF_SECONDS)
                logger.warning(
                    "database unavailable; retrying", extra={"error": str(exc), "backoff": backoff}
                )
                close_old_connections()
                count = 0
            if backoff:
                time.sleep(backoff)
            elif count < settings.OUTBOX_RELAY_BATCH:
                time.sleep(settings.OUTBOX_RELAY_INTERVAL_SECONDS)
        publisher.close()
