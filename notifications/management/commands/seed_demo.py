from typing import Any

from django.core.management.base import BaseCommand

from notifications.services.demo import demo_seed


class Command(BaseCommand):
    help = (
        "Seeds the demo once (superuser, API key, a recipient, an email and a push template) and prints it."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        seed = demo_seed()
        heading = {
            "seeded": "demo seeded:",
            "kept": "demo (seeded earlier):",
            "renewed": "demo (new credentials):",
        }
        self.stdout.write(self.style.SUCCESS(heading[seed.state]))
        self.stdout.write(seed.credentials)
