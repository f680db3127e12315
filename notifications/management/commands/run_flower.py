import ipaddress
import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


class Command(BaseCommand):
    help = (
        "Runs Flower, Celery's monitor (optional: `FLOWER=1 make run`, or compose's `flower` profile), on "
        "FLOWER_ADDRESS:FLOWER_PORT (127.0.0.1:5555). Flower can revoke tasks and shut pools down, so it "
        "refuses to listen beyond the loopback without FLOWER_BASIC_AUTH (user:password). It switches the "
        "workers' task events on over the broker (they also start with them when TASK_EVENTS=true); its "
        "Prometheus metrics are on /metrics. The process becomes Flower."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--address", default=settings.FLOWER_ADDRESS, help="Address to listen on.")
        parser.add_argument("--port", type=int, default=settings.FLOWER_PORT, help="Port to listen on.")

    def handle(self, *args: Any, **options: Any) -> None:
        address, port = options["address"], options["port"]
        if not _is_loopback(address) and not settings.FLOWER_BASIC_AUTH:
            raise CommandError(
                f"Flower on {address} would be open to the network: set FLOWER_BASIC_AUTH=user:password "
                "(or listen on 127.0.0.1)."
            )
        banner = [] if sys.stdout.isatty() else ["--quiet"]
        argv = [
            sys.executable, "-m", "celery", "-A", "notifier", *banner, "flower",
            f"--address={address}", f"--port={port}",
            # Tornado's own plain-text log setup off: Flower's lines go through the JSON logging.
            "--logging=none",
        ]  # fmt: skip
        if settings.FLOWER_BASIC_AUTH:
            argv.append(f"--basic-auth={settings.FLOWER_BASIC_AUTH}")
        os.execv(argv[0], argv)  # noqa: S606 - our own interpreter, with arguments built above
