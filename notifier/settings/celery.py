"""Celery on RabbitMQ. The queue topology itself is declared in notifier/celery.py, in one place."""

from notifier.settings.env import env

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="amqp://guest:guest@127.0.0.1:5672//")
