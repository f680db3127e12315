"""Publishes delivery task messages, and dead letters, with publisher confirms.

A task message carries a batch of notification ids (`deliver_<channel>(ids)`). Waiting for the broker's
confirm after each message caps a channel at about one message per round trip; publishing a set of
messages and then waiting once for all their confirms keeps the same guarantee (nothing counts as
published until the broker has it) at many times the rate. Used by the outbox relay and by workers
(dead letters, split batches).
"""

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import kombu
import kombu.exceptions
from django.conf import settings

from notifications.broker.connection import BROKER_ERRORS, broker_connect, broker_connection
from notifications.channels import WEBHOOK_ROUTING_KEY, WEBHOOK_TASK_NAME, Channel, Lane
from notifier.celery import DLX_NAME, EXCHANGE_NAME
from notifier.celery import app as celery_app

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingTask:
    """One task message: a batch of notification ids of one channel (a single send is a batch of one).

    It goes to its channel's queue of its lane; a dead letter goes to the channel's DLQ instead.
    """

    channel: str
    notification_ids: tuple[str, ...]
    correlation_id: str = ""
    lane: str = Lane.NORMAL
    headers: dict[str, Any] = field(default_factory=dict)
    dead_letter: bool = False

    @property
    def task_name(self) -> str:
        return Channel(self.channel).task_name

    @property
    def args(self) -> tuple[Any, ...]:
        return (list(self.notification_ids),)

    @property
    def exchange(self) -> str:
        return DLX_NAME if self.dead_letter else EXCHANGE_NAME

    @property
    def routing_key(self) -> str:
        channel = Channel(self.channel)
        return channel.dlq if self.dead_letter else channel.routing_key(self.lane)

    @property
    def size(self) -> int:
        return len(self.notification_ids)


@dataclass(frozen=True)
class WebhookTask:
    """One webhook task message: events of one endpoint, for the webhook pool's queue."""

    endpoint_id: int
    event_ids: tuple[int, ...]
    correlation_id: str = ""
    headers: dict[str, Any] = field(default_factory=dict)
    task_name: str = WEBHOOK_TASK_NAME
    exchange: str = EXCHANGE_NAME
    routing_key: str = WEBHOOK_ROUTING_KEY

    @property
    def args(self) -> tuple[Any, ...]:
        return (list(self.event_ids), self.endpoint_id)

    @property
    def size(self) -> int:
        return len(self.event_ids)


class PublishFailed(Exception):
    """The broker did not confirm every message of a batch (down, nacked, or timed out)."""


class BatchPublisher:
    """One connection and channel in confirm mode, reused across batches; reopened after an error."""

    def __init__(self) -> None:
        self._connection: kombu.Connection | None = None
        self._channel: Any = None
        self._producer: kombu.Producer | None = None
        self._next_tag = 1
        self._confirmed_up_to = 0
        self._nacked = False

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        # Confirms arrive in order for one channel; a multiple ack covers every tag up to this one.
        self._confirmed_up_to = max(self._confirmed_up_to, delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked = True

    def _open(self) -> None:
        if self._producer is not None:
            return
        connection = broker_connection(
            timeout=settings.PUBLISH_TIMEOUT_SECONDS,
            connect_timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT,
        )
        broker_connect(connection)
        channel: Any = connection.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self._connection, self._channel = connection, channel
        self._producer = kombu.Producer(
            channel, exchange=kombu.Exchange(EXCHANGE_NAME, type="topic"), auto_declare=False
        )
        self._next_tag, self._confirmed_up_to, self._nacked = 1, 0, False

    def messages_ready(self, queue: str) -> int:
        """Messages waiting in `queue` (not those handed to consumers), by a passive declare."""
        try:
            self._open()
            _, ready, _ = self._channel.queue_declare(queue=queue, passive=True)
        except BROKER_ERRORS as exc:
            self.close()
            raise PublishFailed(f"{exc.__class__.__name__}: {exc}") from exc
        return int(ready)

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except BROKER_ERRORS:
                logger.debug("closing the publisher connection failed", exc_info=True)
        self._connection = self._channel = self._producer = None

    def publish(self, tasks: Sequence[OutgoingTask | WebhookTask], *, timeout: float | None = None) -> None:
        """Publishes every task and returns once the broker confirmed them all; else PublishFailed.

        A kept connection the broker closed meanwhile (a restart) fails at once: the set is published
        once more on a new connection. Publishing twice is safe (the worker's claim decides).
        """
        try:
            self._publish_once(tasks, timeout=timeout)
        except PublishFailed:
            logger.info("publishing again on a new broker connection")
            self._publish_once(tasks, timeout=timeout)

    def _publish_once(
        self, tasks: Sequence[OutgoingTask | WebhookTask], *, timeout: float | None = None
    ) -> None:
        if not tasks:
            return
        deadline = time.monotonic() + (timeout or settings.PUBLISH_TIMEOUT_SECONDS)
        try:
            self._open()
            assert self._producer is not None and self._connection is not None
            for task in tasks:
                message = celery_app.amqp.as_task_v2(
                    str(uuid.uuid4()), task.task_name, args=task.args, kwargs={}
                )
                celery_app.amqp.send_task_message(
                    self._producer,
                    task.task_name,
                    message,
                    exchange=task.exchange,
                    routing_key=task.routing_key,
                    exchange_type="topic",
                    declare=[],
                    retry=False,
                    headers={"x_correlation_id": task.correlation_id, **task.headers},
                    delivery_mode=2,
                )
            last_tag = self._next_tag + len(tasks) - 1
            self._next_tag = last_tag + 1
            while self._confirmed_up_to < last_tag and not self._nacked:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PublishFailed("timed out waiting for the broker's confirms")
                try:
                    self._connection.drain_events(timeout=remaining)
                except TimeoutError:
                    continue
            if self._nacked:
                raise PublishFailed("the broker refused a message (nack)")
        except PublishFailed:
            self.close()
            raise
        except BROKER_ERRORS as exc:
            # An error of the transport leaves the batch unconfirmed: the caller keeps it for later.
            self.close()
            raise PublishFailed(f"{exc.__class__.__name__}: {exc}") from exc
