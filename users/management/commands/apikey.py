"""`manage.py apikey list|create|revoke`: the service callers' API keys."""

import json
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework_api_key.models import APIKey

from users.management.commands.create_api_key import EXPIRES_DAYS_MAX, NAME_MAX_LENGTH
from users.selectors import api_key_get, api_key_list
from users.services import api_key_revoke


def _row(api_key: APIKey) -> dict[str, Any]:
    return {
        "name": api_key.name,
        "prefix": api_key.prefix,
        "created": api_key.created.isoformat(),
        "expires": api_key.expiry_date.isoformat() if api_key.expiry_date else None,
        "revoked": api_key.revoked,
        "valid": not api_key.revoked and not api_key.has_expired,
        "last_used": api_key.use.last_used_at.isoformat() if hasattr(api_key, "use") else None,
    }


class Command(BaseCommand):
    help = (
        "Lists, creates and revokes the API keys of service callers (sent as X-API-Key). Only a hash of "
        "each key is stored: `create` prints the key once; `list` and `revoke` know a key by its prefix "
        "(the part before the dot). A revoked key is refused within API_KEY_CACHE_SECONDS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="Every key: name, prefix, created, expiry, last used, state.")
        listing.add_argument("--json", action="store_true", help="One JSON array on stdout.")
        create = sub.add_parser("create", help="A new key, printed once on the last line.")
        create.add_argument("name", help=f"Who the key is for (at most {NAME_MAX_LENGTH} characters).")
        create.add_argument(
            "--expires-days", type=int, default=None, help=f"Days until it expires (1-{EXPIRES_DAYS_MAX})."
        )
        revoke = sub.add_parser("revoke", help="Revoke the key with this prefix (safe to run twice).")
        revoke.add_argument("prefix", help="The key's prefix, as `list` shows it.")
        revoke.add_argument("--dry-run", action="store_true", help="Say which key; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _list(self, options: dict[str, Any]) -> None:
        rows = [_row(api_key) for api_key in api_key_list()]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        self.stdout.write(f"{'prefix':10} {'name':30} {'created':20} {'expires':20} {'last used':20} state")
        for row in rows:
            state = "revoked" if row["revoked"] else ("valid" if row["valid"] else "expired")
            self.stdout.write(
                f"{row['prefix']:10} {row['name'][:30]:30} {row['created'][:19]:20} "
                f"{(row['expires'] or 'never')[:19]:20} {(row['last_used'] or 'never')[:19]:20} {state}"
            )

    def _create(self, options: dict[str, Any]) -> None:
        expires = (
            ["--expires-days", str(options["expires_days"])] if options["expires_days"] is not None else []
        )
        call_command("create_api_key", options["name"], *expires, stdout=self.stdout, stderr=self.stderr)

    def _revoke(self, options: dict[str, Any]) -> None:
        api_key = api_key_get(prefix=options["prefix"])
        if api_key is None:
            raise CommandError(f"No API key has the prefix {options['prefix']!r} (see `apikey list`).")
        if api_key.revoked:
            self.stdout.write(f"API key {api_key.name!r} ({api_key.prefix}) was already revoked.")
            return
        if options["dry_run"]:
            self.stdout.write(f"Would revoke API key {api_key.name!r} ({api_key.prefix}).")
            return
        api_key_revoke(api_key=api_key)
        self.stdout.write(self.style.SUCCESS(f"Revoked API key {api_key.name!r} ({api_key.prefix})."))
