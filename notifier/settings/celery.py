"""Celery on RabbitMQ, set for reliability. The queue topology itself is declared in notifier/celery.py."""

import random

from notifier.settings.env import env

# One URL, or a cluster's nodes separated by `;`. Each process shuffles the list once as it starts, so
# that the processes spread over the nodes (kombu always connects to the first URL first, whatever its
# failover strategy), then fails over round that order: to the next node at once, without a pause, when
# the one it uses goes down (BROKER_CONNECTION_TIMEOUT bounds each try).
BROKER_URLS = [
    url.strip()
    for url in env.str("CELERY_BROKER_URL", default="amqp://guest:guest@127.0.0.1:5672//").split(";")
    if url.strip()
]
# BROKER_SHUFFLE=false keeps the order as listed (a node to prefer first, say the one in the same zone).
if env.bool("BROKER_SHUFFLE", default=True):
    random.shuffle(BROKER_URLS)
CELERY_BROKER_URL = ";".join(BROKER_URLS)
CELERY_BROKER_FAILOVER_STRATEGY = "round-robin"
# Replicas of each quorum queue (RabbitMQ places them on all nodes when there are fewer); their leaders
# are spread across the nodes by the balanced leader locator (notifier/celery.py).
BROKER_QUORUM_GROUP_SIZE = env.int("BROKER_QUORUM_GROUP_SIZE", default=3)
# Publishing (the relay, retries) connects within this and waits for confirms up to PUBLISH_TIMEOUT.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # workers keep reconnecting through a broker outage
CELERY_BROKER_POOL_LIMIT = env.int("BROKER_POOL_LIMIT", default=10)
# Without publisher confirms, apply_async can return while the message was never stored (celery#5410).
CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
CELERY_BROKER_HEARTBEAT = 30
PUBLISH_TIMEOUT_SECONDS = env.float("PUBLISH_TIMEOUT_SECONDS", default=5.0)

CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_DELIVERY_MODE = "persistent"
CELERY_TASK_CREATE_MISSING_QUEUES = False

# Late acks + reject on worker lost: a task whose process dies is redelivered, never acked and lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A task that fails unexpectedly is rejected without requeue, so RabbitMQ dead-letters it to the DLQ.
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = False
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Prefetch per worker process. Quorum queues get per-consumer QoS (Celery detects them). A message
# carries a batch of up to DELIVERY_BATCH_SIZE notifications, so one in hand per process keeps the work
# spread across processes and hosts.
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("WORKER_PREFETCH_MULTIPLIER", default=1)
CELERY_WORKER_DETECT_QUORUM_QUEUES = True
# Well below RabbitMQ's consumer timeout (30 min): a delivery held longer would be requeued.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("TASK_TIME_LIMIT", default=90)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's consumer without the delayed-delivery bootstep: no task uses a countdown (notifier/celery.py).
CELERY_WORKER_CONSUMER = "notifier.celery:Consumer"
# Celery's Django fixup closes the database connection before and after every task unless this is
# set, which costs a new PostgreSQL connection per delivery. Reused, it is closed every 2x this many
# tasks; a task that meets a broken connection closes it itself (notifications/tasks.py).
CELERY_DB_REUSE_MAX = env.int("WORKER_DB_REUSE_MAX", default=1000)
# Task events feed Flower; off unless asked (`FLOWER=1 make run` sets it; Flower also switches them on).
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("TASK_EVENTS", default=False)
CELERY_TASK_SEND_SENT_EVENT = CELERY_WORKER_SEND_TASK_EVENTS
# Flower (manage.py run_flower): where it listens, and its basic-auth credentials (user:password).
FLOWER_ADDRESS = env.str("FLOWER_ADDRESS", default="127.0.0.1")
FLOWER_PORT = env.int("FLOWER_PORT", default=5555)
FLOWER_BASIC_AUTH = env.str("FLOWER_BASIC_AUTH", default="")
CELERY_WORKER_ENABLE_REMOTE_CONTROL = env.bool("WORKER_REMOTE_CONTROL", default=True)

# Processes of each worker pool (`manage.py run_worker`): the main pools serve the normal and bulk lanes,
# the urgent pools only the urgent lane.
EMAIL_WORKER_CONCURRENCY = env.int("EMAIL_WORKER_CONCURRENCY", default=4)
PUSH_WORKER_CONCURRENCY = env.int("PUSH_WORKER_CONCURRENCY", default=2)
EMAIL_URGENT_CONCURRENCY = env.int("EMAIL_URGENT_CONCURRENCY", default=1)
PUSH_URGENT_CONCURRENCY = env.int("PUSH_URGENT_CONCURRENCY", default=1)

# Delivery retries: exponential backoff with jitter; breaker-open deferrals do not spend this budget.
DELIVERY_MAX_RETRIES = env.int("DELIVERY_MAX_RETRIES", default=5)
DELIVERY_RETRY_BASE_SECONDS = env.int("DELIVERY_RETRY_BASE_SECONDS", default=2)
DELIVERY_RETRY_MAX_SECONDS = env.int("DELIVERY_RETRY_MAX_SECONDS", default=300)
# The default expiry: a notification not handed to a provider within this many seconds of being due (its
# send_at, or its acceptance) ends `expired`. A send's own expires_at or ttl_seconds overrides it.
DELIVERY_DEADLINE_SECONDS = env.int("DELIVERY_DEADLINE_SECONDS", default=24 * 3600)
# A send with at least this priority travels in its channel's urgent lane (its own queue and workers),
# unless it names a lane.
PRIORITY_URGENT_MIN = env.int("PRIORITY_URGENT_MIN", default=8)
# A send's send_at may lie at most this many days ahead, and its expiry this many days after it is due.
SCHEDULE_MAX_DAYS = env.int("SCHEDULE_MAX_DAYS", default=30)
# Redeliveries of one message (worker crashes, nacks) before RabbitMQ dead-letters it as poison.
BROKER_DELIVERY_LIMIT = env.int("BROKER_DELIVERY_LIMIT", default=5)

# Circuit breakers around the providers, shared by all worker processes through Redis.
BREAKER_FAIL_MAX = env.int("BREAKER_FAIL_MAX", default=5)
BREAKER_RESET_SECONDS = env.int("BREAKER_RESET_SECONDS", default=30)

# Notifications per task message: the relay groups what is due by channel into batches of at most this
# many ids, and never waits for a batch to fill (a trickle goes out at once, a batch of one).
DELIVERY_BATCH_SIZE = env.int("DELIVERY_BATCH_SIZE", default=100)
# A notification queued or sending this long without moving, and held by no worker, is put back into
# the outbox by the relay (the claim keeps a late original message from sending it twice).
DELIVERY_STALL_SECONDS = env.int("DELIVERY_STALL_SECONDS", default=60)

# The outbox relay polls for new entries this often when idle (an empty poll is one index lookup).
OUTBOX_RELAY_INTERVAL_SECONDS = env.float("OUTBOX_RELAY_INTERVAL_SECONDS", default=0.02)
OUTBOX_RELAY_BATCH = env.int("OUTBOX_RELAY_BATCH", default=500)
# Broadcasts are expanded into notifications by the relay this many recipients at a time, each chunk in
# one transaction with the broadcast's cursor.
BROADCAST_CHUNK_SIZE = env.int("BROADCAST_CHUNK_SIZE", default=2000)

# The scheduler (`manage.py run_scheduler`, Celery beat; run one) sends the housekeeping task (retention,
# expired tokens and sessions) this often; the webhook pool runs it, at most HOUSEKEEPING_MAX_SECONDS a
# time (a large backlog is worked off over several runs).
HOUSEKEEPING_INTERVAL_SECONDS = env.float("HOUSEKEEPING_INTERVAL_SECONDS", default=3600.0)
HOUSEKEEPING_MAX_SECONDS = env.float("HOUSEKEEPING_MAX_SECONDS", default=45.0)
# How often the scheduler samples the queue depths for the admin operations page's one-hour trend.
QUEUE_SAMPLE_INTERVAL_SECONDS = env.int("QUEUE_SAMPLE_INTERVAL_SECONDS", default=60)
CELERY_BEAT_SCHEDULE = {
    "housekeeping": {"task": "notifications.housekeeping", "schedule": HOUSEKEEPING_INTERVAL_SECONDS},
    "sample-queue-depths": {
        "task": "notifications.sample_queue_depths",
        "schedule": float(QUEUE_SAMPLE_INTERVAL_SECONDS),
        "options": {"expires": QUEUE_SAMPLE_INTERVAL_SECONDS},
    },
}
