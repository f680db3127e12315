"""Housekeeping, as the scheduler runs it and `manage.py prune` does by hand: retention (services.retention),
then expired refresh tokens (simplejwt's flushexpiredtokens) and sessions (Django's clearsessions)."""

import logging
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from notifications.services.retention import PruneReport, retention_prune

logger = logging.getLogger(__name__)


def housekeeping_run(
    *,
    days: int | None = None,
    batch_size: int | None = None,
    dry_run: bool = False,
    max_seconds: float | None = None,
    on_batch: Any = None,
) -> PruneReport | None:
    """Prunes what ended more than `days` (RETENTION_DAYS) ago, then flushes expired tokens and sessions.
    None when retention is off (0 days); the flushes still run."""
    days = settings.RETENTION_DAYS if days is None else days
    report = None
    if days > 0:
        report = retention_prune(
            cutoff=timezone.now() - timedelta(days=days),
            batch_size=batch_size or settings.RETENTION_BATCH_SIZE,
            dry_run=dry_run,
            on_batch=on_batch,
            max_seconds=max_seconds,
        )
        logger.info(
            "retention",
            extra={"dry_run": dry_run, **{k: v for k, v in asdict(report).items() if k != "cutoff"}},
        )
    if not dry_run:
        call_command("flushexpiredtokens", verbosity=0)
        call_command("clearsessions", verbosity=0)
    return report
