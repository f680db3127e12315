"""Prometheus metrics: who may read /metrics (and the workers' metrics ports), and how long a scrape may
wait for the broker. PROMETHEUS_MULTIPROC_DIR is read by prometheus-client itself (see the README)."""

from notifier.settings.env import env

# A scrape is answered only from these addresses (single addresses or CIDR networks, e.g. 10.0.0.0/8;
# `0.0.0.0/0,::/0` allows any) and, when METRICS_TOKEN is set, only with `Authorization: Bearer <token>`.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Queue depths are read from RabbitMQ at scrape time; an unreachable broker costs at most this.
METRICS_BROKER_TIMEOUT_SECONDS = env.float("METRICS_BROKER_TIMEOUT_SECONDS", default=2.0)
# Each Celery worker's main process serves its pool's metrics on this port (0: not served).
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
WORKER_METRICS_ADDRESS = env.str("WORKER_METRICS_ADDRESS", default="0.0.0.0")  # noqa: S104 - a server
