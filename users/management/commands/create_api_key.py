"""`manage.py create_api_key NAME [--expires-days N]`: the key is printed once, alone on the last line."""

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from rest_framework_api_key.models import APIKey

NAME_MAX_LENGTH = APIKey._meta.get_field("name").max_length or 50
EXPIRES_DAYS_MAX = 3650


class Command(BaseCommand):
    help = (
        "Creates an API key for a service caller (sent as X-API-Key) and prints it on the last line. "
        "Only a hash is stored: the key cannot be shown again. Revoke it in the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help=f"Who the key is for (at most {NAME_MAX_LENGTH} characters).")
        parser.add_argument(
            "--expires-days",
            type=int,
            default=None,
            help=f"Days until the key expires (1-{EXPIRES_DAYS_MAX}); it never expires when omitted.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name:
            raise CommandError("NAME must not be blank.")
        if len(name) > NAME_MAX_LENGTH or "\x00" in name:
            raise CommandError(f"NAME must be at most {NAME_MAX_LENGTH} printable characters.")
        expires_days = options["expires_days"]
        expiry_date = None
        if expires_days is not None:
            if not 1 <= expires_days <= EXPIRES_DAYS_MAX:
                raise CommandError(f"--expires-days must be between 1 and {EXPIRES_DAYS_MAX}.")
            expiry_date = timezone.now() + timedelta(days=expires_days)

        api_key, key = APIKey.objects.create_key(name=name, expiry_date=expiry_date)
        expiry = f", expires {api_key.expiry_date:%Y-%m-%d %H:%M} UTC" if api_key.expiry_date else ""
        self.stdout.write(
            self.style.SUCCESS(f"Created API key {name!r} (prefix {api_key.prefix}{expiry}). Store it now:")
        )
        self.stdout.write(key)
