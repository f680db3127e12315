"""Prometheus metrics of the notification pipeline: their definitions, the functions that record them,
and the collector of values read at scrape time (breakers, outbox, queue depths).

Every metric here has labels. In Prometheus's multiprocess mode a metric without labels writes its
file when it is defined, that is at import; a Celery worker picks its private metrics directory after
import (notifier/worker_metrics.py), so only labelled metrics, whose values are made on first use,
land in the right place. Nothing here imports Django models at module level: the Celery app imports
this module before Django is set up.
"""

import logging
from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# The accept endpoint (POST /api/v1/notifications/), by URL name: its latency gets its own histogram.
ACCEPT_URL_NAME = "notification-list"
ACCEPT_METHOD = "POST"

# Fine at the low end: an accept answers in milliseconds.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0)
# From a fast send to a notification that waited out retries or an open breaker.
DELIVERY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)
TASK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 90.0)

HTTP_REQUESTS = Counter(
    "notifier_http_requests",
    "HTTP requests answered, by endpoint (the URL route, not the raw path), method and status code.",
    ["endpoint", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "notifier_http_request_duration_seconds",
    "Time to answer an HTTP request, by endpoint and method.",
    ["endpoint", "method"],
    buckets=REQUEST_BUCKETS,
)
ACCEPT_DURATION = Histogram(
    "notifier_accept_duration_seconds",
    "Time to answer POST /api/v1/notifications/ as the caller sees it, by status code.",
    ["status"],
    buckets=REQUEST_BUCKETS,
)
NOTIFICATIONS_ACCEPTED = Counter(
    "notifier_notifications_accepted",
    "Notifications accepted (repeats of a request_id not counted), by channel and status at acceptance.",
    ["channel", "status"],
)
NOTIFICATIONS_FINISHED = Counter(
    "notifier_notifications_finished",
    "Notifications that reached an end state (sent, failed, skipped, expired in a worker; cancelled "
    "through the API), by channel.",
    ["channel", "status"],
)
DELIVERY_LATENCY = Histogram(
    "notifier_delivery_latency_seconds",
    "End to end: seconds from being due (acceptance, or send_at) to the provider accepting it, by channel.",
    ["channel"],
    buckets=DELIVERY_BUCKETS,
)
PROVIDER_ERRORS = Counter(
    "notifier_provider_errors",
    "Failed provider calls, by channel, provider and error class (transient and permanent).",
    ["channel", "provider", "error_class"],
)
PROVIDER_SENDS = Counter(
    "notifier_provider_sends",
    "Notifications a provider accepted, by channel and provider (the failover's split is seen here).",
    ["channel", "provider"],
)
WORKER_TASKS = Counter(
    "notifier_worker_tasks",
    "Celery tasks run by the worker processes, by task name and final state (SUCCESS, RETRY, ...).",
    ["task", "state"],
)
WORKER_TASK_DURATION = Histogram(
    "notifier_worker_task_duration_seconds",
    "Time a worker process spent running one task, by task name.",
    ["task"],
    buckets=TASK_BUCKETS,
)

# The breaker's state as a number, so that it can be graphed and alerted on.
BREAKER_STATE_VALUES = {"closed": 0, "half-open": 1, "open": 2}


def notification_accepted(*, channel: str, status: str, amount: int = 1) -> None:
    """New notifications were written (status: pending, or skipped)."""
    NOTIFICATIONS_ACCEPTED.labels(channel=channel, status=status).inc(amount)


def delivery_finished(*, channel: str, status: str, latency_seconds: float | None = None) -> None:
    """A worker moved a notification to an end state; `latency_seconds` (from created_at) when sent."""
    NOTIFICATIONS_FINISHED.labels(channel=channel, status=status).inc()
    if status == "sent" and latency_seconds is not None:
        DELIVERY_LATENCY.labels(channel=channel).observe(max(latency_seconds, 0.0))


def notifications_cancelled(*, channel: str, amount: int) -> None:
    if amount:
        NOTIFICATIONS_FINISHED.labels(channel=channel, status="cancelled").inc(amount)


def provider_error(*, channel: str, provider: str, error_class: str) -> None:
    """A provider call failed; `error_class` is the exception's class name (a small, fixed set)."""
    PROVIDER_ERRORS.labels(channel=channel, provider=provider, error_class=error_class).inc()


def provider_sent(*, channel: str, provider: str) -> None:
    PROVIDER_SENDS.labels(channel=channel, provider=provider).inc()


def http_request_observed(*, endpoint: str, url_name: str, method: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(endpoint=endpoint, method=method, status=str(status)).inc()
    HTTP_REQUEST_DURATION.labels(endpoint=endpoint, method=method).observe(seconds)
    if url_name == ACCEPT_URL_NAME and method == ACCEPT_METHOD:
        ACCEPT_DURATION.labels(status=str(status)).observe(seconds)


def worker_task_observed(*, task: str, state: str, seconds: float | None) -> None:
    WORKER_TASKS.labels(task=task, state=state).inc()
    if seconds is not None:
        WORKER_TASK_DURATION.labels(task=task).observe(seconds)


class OperationsCollector(Collector):
    """Values read when Prometheus scrapes: circuit breakers (Redis), the outbox and fan-out backlogs
    (PostgreSQL),
    queue and dead-letter queue depths (RabbitMQ). A source that does not answer leaves its samples out
    rather than failing the scrape; `notifier_broker_up` says whether the broker answered.

    Registered only in the API's /metrics registry, so that one place reads these, once per scrape.
    """

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Declared without reading anything: registering the collector must not touch the network.
        yield from self._families()

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "notifier_breaker_state",
                "Circuit breaker of each provider: 0 closed, 1 half-open, 2 open.",
                labels=["channel", "provider"],
            ),
            GaugeMetricFamily(
                "notifier_outbox_backlog", "Outbox entries that are due and not yet confirmed by the broker."
            ),
            GaugeMetricFamily(
                "notifier_outbox_waiting",
                "Outbox entries not yet due: scheduled sends, and retries waiting for their backoff.",
            ),
            GaugeMetricFamily(
                "notifier_broadcasts_expanding", "Broadcasts the relay is still expanding into notifications."
            ),
            GaugeMetricFamily(
                "notifier_broadcast_oldest_expanding_seconds",
                "Seconds since the oldest broadcast still expanding was accepted (0 when none): a fan-out "
                "that stopped moving shows here.",
            ),
            GaugeMetricFamily(
                "notifier_queue_messages",
                "Messages in a work queue (ready and unacknowledged), read from the broker.",
                labels=["queue", "channel"],
            ),
            GaugeMetricFamily(
                "notifier_queue_consumers",
                "Consumers (worker processes' channels) on a work queue.",
                labels=["queue", "channel"],
            ),
            GaugeMetricFamily(
                "notifier_dlq_messages",
                "Dead letters waiting in a dead-letter queue, read from the broker.",
                labels=["queue", "channel"],
            ),
            GaugeMetricFamily("notifier_broker_up", "1 when the broker answered this scrape, else 0."),
            GaugeMetricFamily(
                "notifier_webhook_events_pending",
                "Status webhook events not yet delivered to their (active) endpoint: due, leased or waiting "
                "for a retry.",
            ),
            GaugeMetricFamily(
                "notifier_webhook_endpoints_disabled",
                "Webhook endpoints disabled (410, failing too long, or by hand); their events wait.",
            ),
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.conf import settings
        from django.db import DatabaseError

        from notifications.broker.connection import BROKER_ERRORS
        from notifications.selectors import (
            breaker_states,
            broker_queue_depths,
            fan_out_backlog_get,
            outbox_backlog_get,
            outbox_waiting_get,
            webhook_backlog_get,
        )

        (
            breakers, backlog, waiting, expanding, oldest, queues, consumers, dlqs, broker_up, hooks_pending,
            hooks_disabled,
        ) = self._families()  # fmt: skip
        for name, state in breaker_states().items():
            if state in BREAKER_STATE_VALUES:
                breakers.add_metric(name.split(".", 1), BREAKER_STATE_VALUES[state])
        try:
            backlog.add_metric([], outbox_backlog_get())
            waiting.add_metric([], outbox_waiting_get())
            fan_out = fan_out_backlog_get()
            expanding.add_metric([], fan_out.broadcasts)
            oldest.add_metric([], fan_out.oldest_seconds)
            webhooks = webhook_backlog_get()
            hooks_pending.add_metric([], webhooks.pending)
            hooks_disabled.add_metric([], webhooks.endpoints_disabled)
        except DatabaseError as exc:
            logger.warning("metrics: outbox backlog unavailable", extra={"error": repr(exc)})
        try:
            depths = broker_queue_depths(timeout=settings.METRICS_BROKER_TIMEOUT_SECONDS)
        except BROKER_ERRORS as exc:
            logger.warning("metrics: broker unavailable", extra={"error": repr(exc)})
            broker_up.add_metric([], 0)
        else:
            broker_up.add_metric([], 1)
            for depth in depths:
                if depth.dead_letter:
                    dlqs.add_metric([depth.queue, depth.channel], depth.messages)
                else:
                    queues.add_metric([depth.queue, depth.channel], depth.messages)
                    consumers.add_metric([depth.queue, depth.channel], depth.consumers)
        yield from (
            breakers, backlog, waiting, expanding, oldest, queues, consumers, dlqs, broker_up, hooks_pending,
            hooks_disabled,
        )  # fmt: skip
