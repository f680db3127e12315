"""The notifier project package: settings, URLs, the Celery app and cross-cutting API plumbing."""

from notifier.celery import app as celery_app

__all__ = ["celery_app"]
