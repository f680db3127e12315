"""Thin Celery tasks: they take a notification id, call the delivery service, and map its outcome to
ack (return), retry (publish again after a countdown) or dead-letter (reject without requeue)."""

import logging
import os

from celery import Task, shared_task
from celery.exceptions import Reject
from django.db import IntegrityError, InterfaceError, OperationalError, connection

from notifications.models import Notification
from notifications.services.delivery import DeliveryResult, Outcome, delivery_send, retry_countdown
from notifier.logging import correlation_id_set

logger = logging.getLogger(__name__)


def _deliver(task: Task, notification_id: str, channel: str) -> str:
    correlation_id_set(getattr(task.request, "x_correlation_id", None) or None)
    try:
        result: DeliveryResult = delivery_send(
            notification_id=notification_id,
            channel=channel,
            worker=f"{task.request.hostname}:{os.getpid()}",
            # Set by RabbitMQ on quorum queues: how often this message was handed out and not acked.
            delivery_count=int(vars(task.request).get("x-delivery-count") or 0),
        )
    except IntegrityError:
        # The only foreign keys a delivery writes point at its notification: if that is gone (its user
        # was deleted meanwhile), there is nothing left to deliver or record.
        if Notification.objects.filter(pk=notification_id).exists():
            raise
        logger.info("notification deleted during delivery", extra={"notification_id": notification_id})
        return "gone"
    except (OperationalError, InterfaceError) as exc:
        # The database is unreachable: nothing was recorded; try the whole delivery again later, on a
        # new connection (this one is broken, and connections are reused across tasks).
        connection.close()
        logger.warning("database unavailable during delivery", extra={"notification_id": notification_id})
        raise task.retry(
            countdown=retry_countdown(failures=min(task.request.retries + 1, 6)), exc=exc
        ) from exc
    if result.outcome in (Outcome.RETRY, Outcome.BUSY):
        raise task.retry(countdown=result.countdown)
    if result.outcome == Outcome.FAILED:
        # Rejected without requeue: RabbitMQ dead-letters the message to this queue's DLQ.
        raise Reject(result.reason, requeue=False)
    return str(result.outcome)


@shared_task(bind=True, name="notifications.deliver_email", max_retries=None, acks_late=True)
def deliver_email(self: Task, notification_id: str) -> str:
    return _deliver(self, notification_id, "email")


@shared_task(bind=True, name="notifications.deliver_push", max_retries=None, acks_late=True)
def deliver_push(self: Task, notification_id: str) -> str:
    return _deliver(self, notification_id, "push")
