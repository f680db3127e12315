"""One way to open a broker connection, and one tuple of the errors talking to the broker raises.

Every connection the application opens itself (the publisher of the relay and the workers, readiness,
metrics, the DLQ tools) comes from here, with its reads and writes bounded: a broker in a memory alarm
stops reading from publishers, and nothing may block forever on it. CELERY_BROKER_URL may list a
cluster's nodes separated by `;`, in this process's shuffled order (notifier/settings/celery.py):
`broker_connect` tries each of them once, in that order, without a pause.
"""

import amqp.exceptions
import kombu
import kombu.exceptions
from django.conf import settings

BROKER_ERRORS: tuple[type[Exception], ...] = (
    kombu.exceptions.KombuError,
    amqp.exceptions.AMQPError,
    OSError,
)


def broker_connection(
    *, timeout: float, connect_timeout: float | None = None, url: str | None = None
) -> kombu.Connection:
    """A connection to the broker (`url`, default CELERY_BROKER_URL), not yet connected; reads and writes
    time out after `timeout` seconds, connecting after `connect_timeout` (default: the same)."""
    return kombu.Connection(
        url or settings.CELERY_BROKER_URL,
        connect_timeout=timeout if connect_timeout is None else connect_timeout,
        transport_options={"read_timeout": timeout, "write_timeout": timeout},
    )


def broker_connect(connection: kombu.Connection, *, timeout: int | None = None) -> None:
    """Connects to the first listed node that answers (each tried once, without a pause: a node that is
    down refuses at once or within the connect timeout); raises the last node's error if none does, or
    once `timeout` seconds have passed in all."""
    connection.ensure_connection(max_retries=max(len(connection.alt), 1) - 1, timeout=timeout)
