from typing import Any

from django.core.management.base import BaseCommand

from notifications.services.demo import demo_seed


class Command(BaseCommand):
    help = (
        "Seeds the demo once (staff user, API key, a recipient, an email and a push template) and prints it."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        seed = demo_seed()
        self.stdout.write(self.style.SUCCESS("demo seeded:" if seed.created else "demo (seeded earlier):"))
        self.stdout.write(seed.credentials)
