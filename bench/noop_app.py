"""A Celery app with one task that does nothing but count itself: Celery's own overhead on RabbitMQ,
with the same reliability settings and queue type as the notification pools."""

import os

import redis
from celery import Celery
from kombu import Exchange, Queue

QUEUE = "bench.noop"
COUNTER = "bench:noop:done"

app = Celery("bench", broker=os.environ["CELERY_BROKER_URL"])
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=int(os.environ.get("WORKER_PREFETCH_MULTIPLIER", "4")),
    broker_transport_options={"confirm_publish": True},
    task_default_delivery_mode="persistent",
    worker_hijack_root_logger=False,
    task_queues=[
        Queue(
            QUEUE,
            Exchange("bench", type="topic"),
            routing_key="noop",
            queue_arguments={"x-queue-type": "quorum"},
        )
    ],
    task_default_queue=QUEUE,
    task_default_exchange="bench",
    task_default_routing_key="noop",
)
_redis = redis.Redis.from_url(os.environ["REDIS_URL"])


@app.task(name="bench.noop")
def noop() -> None:
    _redis.incr(COUNTER)
