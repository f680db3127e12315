import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Q

from notifications.models import WebhookEndpoint, WebhookEventState
from notifications.webhooks.delivery import webhook_events_replay


class Command(BaseCommand):
    help = "Lists status webhook endpoints with their event counts, or replays their events."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="One line per endpoint: id, state, events pending/failed, url.")
        listing.add_argument("--json", action="store_true", help="A JSON array on stdout.")
        replay = sub.add_parser(
            "replay", help="Send failed events again (with --delivered, delivered ones too)."
        )
        replay.add_argument("--endpoint", type=int, help="Only this endpoint's events.")
        replay.add_argument(
            "--event", type=int, action="append", dest="events", metavar="EVENT_ID", help="Only these."
        )
        replay.add_argument("--delivered", action="store_true", help="Replay delivered events too.")
        replay.add_argument(
            "--dry-run", action="store_true", help="Count what would be replayed; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _list(self, options: dict[str, Any]) -> None:
        endpoints = WebhookEndpoint.objects.annotate(
            pending=Count("webhook_events", filter=Q(webhook_events__state=WebhookEventState.PENDING)),
            failed=Count("webhook_events", filter=Q(webhook_events__state=WebhookEventState.FAILED)),
        ).order_by("id")
        rows = [
            {
                "id": e.id, "url": e.url, "is_active": e.is_active, "disabled_reason": e.disabled_reason,
                "failing_since": e.failing_since.isoformat() if e.failing_since else None,
                "events": e.events, "pending": e.pending, "failed": e.failed,  # type: ignore[attr-defined]
            }
            for e in endpoints
        ]  # fmt: skip
        if options["json"]:
            self.stdout.write(json.dumps(rows))
            return
        for row in rows:
            state = "active" if row["is_active"] else f"disabled ({row['disabled_reason']})"
            self.stdout.write(
                f"{row['id']}\t{state}\tpending={row['pending']}\tfailed={row['failed']}\t{row['url']}"
            )
        self.stdout.write(self.style.SUCCESS(f"{len(rows)} endpoint(s)"))

    def _replay(self, options: dict[str, Any]) -> None:
        if (
            options["endpoint"] is not None
            and not WebhookEndpoint.objects.filter(pk=options["endpoint"]).exists()
        ):
            raise CommandError(f"no webhook endpoint {options['endpoint']}")
        states = (
            (WebhookEventState.FAILED, WebhookEventState.DELIVERED)
            if options["delivered"]
            else (WebhookEventState.FAILED,)
        )
        count = webhook_events_replay(
            event_ids=options["events"],
            endpoint_id=options["endpoint"],
            states=states,
            dry_run=options["dry_run"],
        )
        verb = "would replay" if options["dry_run"] else "replayed"
        self.stdout.write(self.style.SUCCESS(f"{verb} {count} event(s)"))
