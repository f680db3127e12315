#!/usr/bin/env python
"""Gives the test suite a RabbitMQ virtual host of its own, so a running `make run` never shares its queues.

Uses `rabbitmqctl` when this machine has it (the broker runs locally); otherwise the suite uses the
broker URL it is given as it is.
"""

import shutil
import subprocess
import sys

VHOST = "notifier_test"


def main() -> int:
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        print("rabbitmqctl not found: the suite uses CELERY_BROKER_URL as given")
        return 0
    listed = subprocess.run([rabbitmqctl, "-q", "list_vhosts"], capture_output=True, text=True, timeout=60)
    if VHOST not in listed.stdout.split():
        subprocess.run([rabbitmqctl, "-q", "add_vhost", VHOST], check=True, timeout=60)
    subprocess.run(
        [rabbitmqctl, "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"], check=True, timeout=60
    )
    print(f"RabbitMQ vhost {VHOST!r} ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
