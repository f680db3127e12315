import logging
import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import IntegrityError, InterfaceError, OperationalError, close_old_connections

from notifications.channels import CHANNELS
from notifications.services.broadcast import broadcast_expand_once
from notifications.services.outbox import outbox_relay_once, outbox_sweep_stalled
from notifications.services.publisher import BatchPublisher, PublishFailed
from notifications.webhooks.delivery import webhook_events_relay_once

logger = logging.getLogger(__name__)

# After a failed batch the relay waits, doubling up to this, so a broker outage is not hammered.
MAX_BACKOFF_SECONDS = 5.0
# How often the relay looks for notifications that stopped moving (see outbox_sweep_stalled).
SWEEP_INTERVAL_SECONDS = 5.0
# How often the relay looks for due status webhook events (at once again only after a full round): they
# need not follow a status change within milliseconds, and events written one by one (each email's
# acceptance records its own) then travel in a few messages a second rather than one message each.
WEBHOOK_POLL_SECONDS = 0.25
WEBHOOK_RELAY_LIMIT = 500


def _sweep(publisher: BatchPublisher) -> int:
    backlog = frozenset(
        channel
        for channel in CHANNELS
        if any(publisher.messages_ready(queue) > 0 for queue in channel.queues)
    )
    return outbox_sweep_stalled(channels_with_backlog=backlog)


class Command(BaseCommand):
    help = (
        "Runs the outbox relay: expands broadcasts into their recipients' notifications, a chunk at a "
        "time, publishes what is due in the outbox to RabbitMQ as batch messages with publisher confirms, "
        "puts notifications that stopped moving back into the outbox, and publishes due status webhook "
        "events to the webhook pool. Several relays may run at once "
        "(rows are taken with SKIP LOCKED)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Expand one broadcast chunk, relay one batch, and exit."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        publisher = BatchPublisher()
        if options["once"]:
            expanded = broadcast_expand_once()
            count = outbox_relay_once(publisher=publisher)
            events = webhook_events_relay_once(publisher=publisher)
            publisher.close()
            self.stdout.write(
                self.style.SUCCESS(f"expanded {expanded}, relayed {count}, webhook events {events}")
            )
            return

        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        logger.info("outbox relay running")
        backoff = 0.0
        expanded = events = 0
        next_sweep = time.monotonic() + SWEEP_INTERVAL_SECONDS
        next_webhooks = time.monotonic()
        while not stopping:
            try:
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + SWEEP_INTERVAL_SECONDS
                    _sweep(publisher)
                # A broadcast's chunk, then what is due: a large fan-out and the outbox move side by side.
                expanded = broadcast_expand_once()
                count = outbox_relay_once(publisher=publisher)
                # Status events: small beside deliveries, and never ahead of them.
                events = 0
                if time.monotonic() >= next_webhooks:
                    events = webhook_events_relay_once(publisher=publisher, limit=WEBHOOK_RELAY_LIMIT)
                    full = events >= WEBHOOK_RELAY_LIMIT
                    next_webhooks = time.monotonic() + (0 if full else WEBHOOK_POLL_SECONDS)
                backoff = 0.0
            except PublishFailed as exc:
                backoff = min(max(backoff * 2, 0.25), MAX_BACKOFF_SECONDS)
                logger.warning("broker unavailable; retrying", extra={"error": str(exc), "backoff": backoff})
                count = 0
            except (OperationalError, InterfaceError, IntegrityError) as exc:
                # IntegrityError: recipients of a broadcast's chunk deleted while it was written, twice
                # running (the chunk is read again once at once); the next round reads it again.
                backoff = min(max(backoff * 2, 0.25), MAX_BACKOFF_SECONDS)
                logger.warning(
                    "database unavailable; retrying", extra={"error": str(exc), "backoff": backoff}
                )
                close_old_connections()
                count = 0
            if backoff:
                time.sleep(backoff)
            elif count < settings.OUTBOX_RELAY_BATCH and not expanded and not events:
                time.sleep(settings.OUTBOX_RELAY_INTERVAL_SECONDS)
        publisher.close()
