import json
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from notifications.services.housekeeping import housekeeping_run


class Command(BaseCommand):
    help = (
        "Deletes what ended more than RETENTION_DAYS (or --days) ago: notifications with their attempts, "
        "status webhook events with theirs, finished broadcasts; in batches, each a short transaction. "
        "Then flushes expired refresh tokens and sessions (simplejwt's flushexpiredtokens, Django's "
        "clearsessions). Nothing still on its way is pruned. RETENTION_DAYS=0 keeps everything."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, help="Keep this many days (default RETENTION_DAYS).")
        parser.add_argument(
            "--batch-size", type=int, help="Rows per transaction (default RETENTION_BATCH_SIZE)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be pruned; change nothing."
        )
        parser.add_argument("--json", action="store_true", help="One JSON object on stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = settings.RETENTION_DAYS if options["days"] is None else options["days"]
        batch_size = options["batch_size"] or settings.RETENTION_BATCH_SIZE
        if days < 0 or batch_size < 1:
            raise CommandError("--days must be 0 or more and --batch-size at least 1.")
        # A progress bar on a terminal (stderr), never in --json output or a log.
        bar = tqdm(desc="pruning", unit=" rows", disable=options["json"] or not sys.stderr.isatty())

        def progress(kind: str, rows: int) -> None:
            bar.set_postfix_str(kind)
            bar.update(rows)

        report = housekeeping_run(
            days=days, batch_size=batch_size, dry_run=options["dry_run"], on_batch=progress
        )
        bar.close()
        if report is None:
            self._out(options, {"retention_days": 0, "pruned": False}, "retention is off (RETENTION_DAYS=0)")
            return
        result = {
            "retention_days": days,
            "cutoff": report.cutoff.isoformat(),
            "dry_run": options["dry_run"],
            "batches": report.batches,
            "deleted": report.deleted,
        }
        verb = "would prune" if options["dry_run"] else "pruned"
        counts = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in report.deleted.items())
        self._out(options, result, f"{verb} {counts} (older than {days} days, {report.batches} batches)")

    def _out(self, options: dict[str, Any], result: dict[str, Any], line: str) -> None:
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(self.style.SUCCESS(line))
