#!/usr/bin/env python
"""Gives the test suite RabbitMQ virtual hosts of its own, so a running `make run` never shares its queues:
`notifier_test` for the pipeline, `notifier_test_topology` for the tests that declare and delete the
topology itself.

Uses `rabbitmqctl` when this machine has it (the broker runs locally, or CI's wrapper runs it in the
broker's container); otherwise the suite uses the broker URL it is given as it is. The vhost is opened to
the user of CELERY_BROKER_URL when that is set (CI connects as its own user), else to `guest`.
"""

import os
import shutil
import subprocess
import sys
from urllib.parse import unquote, urlsplit

VHOSTS = ("notifier_test", "notifier_test_topology")


def broker_user() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    # A cluster is several URLs separated by ';': they share their users.
    username = urlsplit(url.split(";")[0].strip()).username if url else None
    return unquote(username) if username else "guest"


def main() -> int:
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        print("rabbitmqctl not found: the suite uses CELERY_BROKER_URL as given")
        return 0
    listed = subprocess.run([rabbitmqctl, "-q", "list_vhosts"], capture_output=True, text=True, timeout=60)
    user = broker_user()
    for vhost in VHOSTS:
        if vhost not in listed.stdout.split():
            subprocess.run([rabbitmqctl, "-q", "add_vhost", vhost], check=True, timeout=60)
        subprocess.run(
            [rabbitmqctl, "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
            check=True,
            timeout=60,
        )
        print(f"RabbitMQ vhost {vhost!r} ready for {user!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
