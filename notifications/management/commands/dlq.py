import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from notifications.broker.connection import BROKER_ERRORS
from notifications.channels import CHANNELS
from notifications.management.durations import duration_parse
from notifications.services.dlq import LetterProgress, dlq_list, dlq_purge, dlq_replay


def _notification_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CommandError(f"--id takes a notification id (a UUID), not {value!r}") from None


@contextmanager
def _progress(desc: str, *, quiet: bool) -> Iterator[LetterProgress]:
    """A progress bar on a terminal (stderr), never in --json output or a log; its total grows by each
    queue's count of letters as that queue is reached."""
    bar = tqdm(desc=desc, unit=" letters", total=0, disable=quiet or not sys.stderr.isatty())
    totals: dict[str, int] = {}

    def on_letter(queue: str, queue_total: int) -> None:
        if queue not in totals:
            totals[queue] = queue_total
            bar.total = sum(totals.values())
        bar.set_postfix_str(queue)
        bar.update(1)

    try:
        yield on_letter
    finally:
        bar.close()


class Command(BaseCommand):
    help = (
        "Lists, replays or purges the dead-letter queues (email.dlq, push.dlq). Replay and purge show a "
        "progress bar on a terminal; --json prints the result as one JSON object, for scripts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser(
            "list", help="One line per dead letter: notification, reason, attempts, time."
        )
        replay = sub.add_parser(
            "replay", help="Re-publish dead letters to their main queue (skips sent ones)."
        )
        purge = sub.add_parser("purge", help="Drop dead letters.")
        for p in (listing, replay, purge):
            p.add_argument(
                "--queue", choices=[channel.value for channel in CHANNELS], help="Only this channel's DLQ."
            )
            p.add_argument("--json", action="store_true", help="Print the result as one JSON object.")
        listing.add_argument("--limit", type=int, default=100, help="At most this many lines.")
        replay.add_argument(
            "--id", action="append", dest="ids", metavar="NOTIFICATION_ID", help="Only these."
        )
        replay.add_argument(
            "--dry-run", action="store_true", help="Say what would be replayed; change nothing."
        )
        purge.add_argument("--older-than", help="Only letters that died longer ago than this, e.g. 7d, 12h.")
        purge.add_argument(
            "--dry-run", action="store_true", help="Count what would be purged; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except BROKER_ERRORS as exc:
            raise CommandError(f"the broker is unavailable: {exc}") from exc

    def _list(self, options: dict[str, Any]) -> None:
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        letters = dlq_list(channel=options["queue"], limit=options["limit"])
        if options["json"]:
            rows = [
                {
                    "channel": letter.channel,
                    "notification_id": letter.notification_id,
                    "attempts": letter.attempts,
                    "died_at": letter.died_at.isoformat() if letter.died_at else None,
                    "status": letter.status,
                    "reason": letter.reason,
                }
                for letter in letters
            ]
            self.stdout.write(json.dumps({"dead_letters": rows, "count": len(rows)}))
            return
        for letter in letters:
            died = letter.died_at.isoformat() if letter.died_at else "-"
            self.stdout.write(
                f"{letter.channel}\t{letter.notification_id}\tattempts={letter.attempts}\t{died}\t"
                f"status={letter.status}\t{letter.reason}"
            )
        self.stdout.write(self.style.SUCCESS(f"{len(letters)} dead letter(s)"))

    def _replay(self, options: dict[str, Any]) -> None:
        ids = {_notification_id(value) for value in options["ids"]} if options["ids"] else None
        with _progress("replaying", quiet=options["json"]) as on_letter:
            report = dlq_replay(
                channel=options["queue"],
                notification_ids=ids,
                dry_run=options["dry_run"],
                on_letter=on_letter,
            )
        if self._wrote_json(options, replayed=report.replayed, skipped=report.skipped):
            return
        verb = "would replay" if options["dry_run"] else "replayed"
        for notification_id in report.replayed:
            self.stdout.write(f"{verb} {notification_id}")
        for notification_id in report.skipped:
            self.stdout.write(f"skipped {notification_id} (already sent or gone)")
        self.stdout.write(self.style.SUCCESS(f"{verb} {len(report.replayed)}, skipped {len(report.skipped)}"))

    def _purge(self, options: dict[str, Any]) -> None:
        older_than = (
            duration_parse(options["older_than"], option="--older-than") if options["older_than"] else None
        )
        with _progress("purging", quiet=options["json"]) as on_letter:
            count = dlq_purge(
                channel=options["queue"],
                older_than=older_than,
                dry_run=options["dry_run"],
                on_letter=on_letter,
            )
        if self._wrote_json(options, purged=count):
            return
        verb = "would purge" if options["dry_run"] else "purged"
        self.stdout.write(self.style.SUCCESS(f"{verb} {count} dead letter(s)"))

    def _wrote_json(self, options: dict[str, Any], **result: Any) -> bool:
        """With --json, prints the result (and whether it was a dry run) as one object; says if it did."""
        if options["json"]:
            self.stdout.write(json.dumps({"dry_run": options["dry_run"], **result}))
        return bool(options["json"])
