from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from notifications.broker.connection import BROKER_ERRORS
from notifier.celery import delayed_topology_remove, topology_declare


class Command(BaseCommand):
    help = (
        "Declares the RabbitMQ topology (exchanges, quorum queues, dead-letter queues) and removes the "
        "delayed-delivery queues an older version declared. Idempotent; run before any worker starts."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            names = topology_declare(
                broker_url=settings.CELERY_BROKER_URL,
                delivery_limit=settings.BROKER_DELIVERY_LIMIT,
                group_size=settings.BROKER_QUORUM_GROUP_SIZE,
            )
            delayed_topology_remove(broker_url=settings.CELERY_BROKER_URL)
        except BROKER_ERRORS as exc:
            raise CommandError(f"could not declare the broker topology: {exc}") from exc
        self.stdout.write(self.style.SUCCESS("broker ready: " + ", ".join(names)))
