"""The demo `make run` seeds once, so a fresh machine can send its first notification at once."""

import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from rest_framework_api_key.models import APIKey

from templates_app.models import Template
from templates_app.services import template_create_or_version
from users.models import User
from users.services import user_create

DEMO_ADMIN_EMAIL = "admin@notifier.local"
DEMO_RECIPIENT_EMAIL = "ada@example.com"
DEMO_DEVICE_TOKEN = "demo-device-token"  # noqa: S105 - a placeholder device token, not a secret


@dataclass(frozen=True)
class DemoSeed:
    created: bool
    credentials: str


def _credentials_path() -> Path:
    return Path(settings.BASE_DIR) / "var" / "demo-credentials.txt"


def demo_seed() -> DemoSeed:
    """Creates the staff user, an API key, a recipient with a push device, and two templates, once.

    The raw API key and password exist only at creation (the database keeps hashes), so they are
    written to var/demo-credentials.txt (git-ignored) and shown again on later runs.
    """
    path = _credentials_path()
    if User.objects.filter(email=DEMO_ADMIN_EMAIL).exists():
        text = (
            path.read_text()
            if path.exists()
            else "The demo was seeded before; its credentials file is gone.\n"
        )
        return DemoSeed(created=False, credentials=text)

    password = secrets.token_urlsafe(12)
    with transaction.atomic():
        User.objects.create_superuser(DEMO_ADMIN_EMAIL, password, name="Demo admin")
        _, api_key = APIKey.objects.create_key(name="demo")
        recipient = user_create(
            name="Ada Lovelace",
            email=DEMO_RECIPIENT_EMAIL,
            password=secrets.token_urlsafe(16),
            push_token=DEMO_DEVICE_TOKEN,
            platform="android",
        )
        if not Template.objects.filter(code="welcome", notification_type="email").exists():
            template_create_or_version(
                code="welcome",
                language="en",
                notification_type="email",
                subject="Welcome to {{app}}, {{name}}!",
                body="Hi {{name}},\n\nThanks for joining {{app}}.",
                html_body="<p>Hi {{name}},</p><p>Thanks for joining <b>{{app}}</b>.</p>",
                description="Sent when an account is created",
            )
        if not Template.objects.filter(code="alert", notification_type="push").exists():
            template_create_or_version(
                code="alert",
                language="en",
                notification_type="push",
                subject="{{title}}",
                body="{{message}}",
                link="https://example.com/alerts",
                description="A generic push alert",
            )
    port = settings.PORT
    text = (
        f"admin (staff) login: {DEMO_ADMIN_EMAIL} / {password}   http://localhost:{port}/admin/\n"
        f"API key (X-API-Key): {api_key}\n"
        f"demo recipient user_id: {recipient.id} ({DEMO_RECIPIENT_EMAIL}, push device {DEMO_DEVICE_TOKEN})\n"
        f"templates: welcome (email: name, app), alert (push: title, message)\n"
        f"try: curl -s -X POST http://localhost:{port}/api/v1/notifications/ -H 'X-API-Key: {api_key}' "
        f'-H \'Content-Type: application/json\' -d \'{{"notification_type": "email", '
        f'"user_id": "{recipient.id}", "template_code": "welcome", '
        f'"variables": {{"name": "Ada", "app": "notifier"}}, "request_id": "demo-1"}}\'\n'
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return DemoSeed(created=True, credentials=text)
