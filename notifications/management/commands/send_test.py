import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from notifications.models import NotificationStatus
from notifications.services.send_test import (
    send_test_accept,
    send_test_outcome_wait,
    send_test_recipient_get_or_create,
    send_test_user_get,
)
from notifier.api.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Sends a real test notification through the running system (outbox, relay, broker, urgent "
        "worker, provider) and waits for its outcome: `--email ADDR` (the user with that address, made "
        "if there is none) or `--user ID`, by email or with `--push` to the user's devices. Exits "
        "non-zero unless it was sent. The workers and the relay must be running (make run)."
    )

    def add_arguments(self, parser: Any) -> None:
        recipient = parser.add_mutually_exclusive_group(required=True)
        recipient.add_argument("--email", help="Send to the user with this address (made if missing).")
        recipient.add_argument("--user", help="Send to this user id.")
        parser.add_argument("--push", action="store_true", help="A push to the user's devices, not an email.")
        parser.add_argument("--timeout", type=float, default=30.0, help="Seconds to wait (default 30).")
        parser.add_argument("--json", action="store_true", help="Print the outcome as one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        channel = "push" if options["push"] else "email"
        try:
            if options["email"]:
                user, created = send_test_recipient_get_or_create(email=options["email"])
            else:
                user, created = send_test_user_get(user_id=options["user"]), False
            notification = send_test_accept(user_id=user.id, channel=channel)
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} {exc.data or ''}".strip()) from exc
        if created and not options["json"]:
            self.stdout.write(f"made a user for {user.email}: {user.id}")
        outcome = send_test_outcome_wait(notification_id=notification.id, timeout=options["timeout"])
        attempts = list(outcome.delivery_attempts.all())
        took = (outcome.sent_at or outcome.updated_at) - outcome.created_at
        report: dict[str, Any] = {
            "notification_id": str(outcome.id),
            "user_id": str(user.id),
            "channel": channel,
            "status": outcome.status,
            "error": outcome.error,
            "provider": attempts[-1].provider if attempts else "",
            "attempts": [
                {"provider": a.provider, "outcome": a.outcome, "error": a.error_message} for a in attempts
            ],
            "seconds": round(took.total_seconds(), 3),
        }
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            for attempt in report["attempts"]:
                self.stdout.write(
                    f"  attempt via {attempt['provider']}: {attempt['outcome']} {attempt['error']}"
                )
        if outcome.status not in (NotificationStatus.SENT, NotificationStatus.DELIVERED):
            waited = "" if outcome.status != NotificationStatus.QUEUED else " (are the workers running?)"
            raise CommandError(
                f"test {channel} {outcome.id} is {outcome.status}{waited}: {outcome.error or 'no error'}"
            )
        if not options["json"]:
            self.stdout.write(
                self.style.SUCCESS(
                    f"test {channel} {outcome.id} sent via {report['provider']} in {report['seconds']} s"
                )
            )
