"""The demo `make run` seeds once, so a fresh machine can send its first notification at once."""

import json
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from rest_framework_api_key.models import APIKey

from notifications.models import Topic
from notifications.services.topics import topic_create, topic_subscribers_add
from notifier.demo import (
    DEMO_ADMIN_EMAIL,
    DEMO_DEVICE_TOKEN,
    DEMO_EMAIL_TEMPLATE,
    DEMO_PUSH_TEMPLATE,
    DEMO_RECIPIENT_EMAIL,
    DEMO_RECIPIENT_ID,
    DEMO_TOPIC,
)
from templates_app.models import Template
from templates_app.services import template_create_or_version
from users.models import User
from users.selectors import user_get
from users.services import user_create


@dataclass(frozen=True)
class DemoSeed:
    state: str  # "seeded" (first run), "kept" (the saved credentials work), "renewed" (new ones made)
    credentials: str


def _credentials_path() -> Path:
    return Path(settings.BASE_DIR) / "var" / "demo-credentials.json"


def _templates_seed() -> None:
    if not Template.objects.filter(code=DEMO_EMAIL_TEMPLATE, notification_type="email").exists():
        template_create_or_version(
            code=DEMO_EMAIL_TEMPLATE,
            language="en",
            notification_type="email",
            subject="Welcome to {{app}}, {{name}}!",
            body="Hi {{name}},\n\nThanks for joining {{app}}.",
            html_body="<p>Hi {{name}},</p><p>Thanks for joining <b>{{app}}</b>.</p>",
            description="Sent when an account is created",
        )
    if not Template.objects.filter(code=DEMO_PUSH_TEMPLATE, notification_type="push").exists():
        template_create_or_version(
            code=DEMO_PUSH_TEMPLATE,
            language="en",
            notification_type="push",
            subject="{{title}}",
            body="{{message}}",
            link="https://example.com/alerts",
            description="A generic push alert",
        )


def _recipient_id() -> str:
    recipient = User.objects.filter(email=DEMO_RECIPIENT_EMAIL).first()
    if recipient is None:
        recipient = user_create(
            name="Ada Lovelace",
            email=DEMO_RECIPIENT_EMAIL,
            password=secrets.token_urlsafe(16),
            push_token=DEMO_DEVICE_TOKEN,
            platform="android",
            user_id=DEMO_RECIPIENT_ID if not User.objects.filter(pk=DEMO_RECIPIENT_ID).exists() else None,
        )
    return str(recipient.id)


def _topic_seed(recipient_id: str) -> None:
    """The demo topic, with the demo recipient in it (both once)."""
    topic = Topic.objects.filter(key=DEMO_TOPIC).first() or topic_create(
        key=DEMO_TOPIC, name="Product news", description="Demo topic: announcements to every subscriber"
    )
    topic_subscribers_add(topic=topic, user_ids=[uuid.UUID(recipient_id)])


def _saved_still_valid(saved: dict[str, str]) -> bool:
    admin = User.objects.filter(email=DEMO_ADMIN_EMAIL, is_active=True).first()
    recipient = user_get(user_id=saved.get("recipient_id", ""))
    return (
        admin is not None
        and admin.check_password(saved.get("password", ""))
        and APIKey.objects.is_valid(saved.get("api_key", ""))
        and recipient is not None
        and recipient.is_active
    )


def _credentials_text(saved: dict[str, str]) -> str:
    port = settings.PORT
    api_key, recipient_id = saved["api_key"], saved["recipient_id"]
    return (
        f"admin (superuser) login: {DEMO_ADMIN_EMAIL} / {saved['password']}   http://localhost:{port}/admin/\n"
        f"API key (X-API-Key): {api_key}\n"
        f"demo recipient user_id: {recipient_id} ({DEMO_RECIPIENT_EMAIL}, push device {DEMO_DEVICE_TOKEN})\n"
        f"templates: welcome (email: name, app), alert (push: title, message); topic: {DEMO_TOPIC}\n"
        "try (each run sends a new notification; its request_id is the time):\n"
        f"curl -sS -X POST http://localhost:{port}/api/v1/notifications/ -H 'X-API-Key: {api_key}' "
        f'-H \'Content-Type: application/json\' -d \'{{"notification_type": "email", '
        f'"user_id": "{recipient_id}", "template_code": "welcome", '
        f'"variables": {{"name": "Ada", "app": "notifier"}}, '
        f'"request_id": "demo-\'"$(date +%s%N)"\'"}}\'\n'
        "and to everyone in the demo topic (a broadcast; follow it at /api/v1/broadcasts/<broadcast_id>):\n"
        f"curl -sS -X POST http://localhost:{port}/api/v1/notifications/ -H 'X-API-Key: {api_key}' "
        f'-H \'Content-Type: application/json\' -d \'{{"notification_type": "email", '
        f'"topic": "{DEMO_TOPIC}", "template_code": "welcome", '
        f'"variables": {{"name": "there", "app": "notifier"}}, '
        f'"request_id": "demo-topic-\'"$(date +%s%N)"\'"}}\'\n'
    )


def demo_seed() -> DemoSeed:
    """Seeds the superuser, an API key, a recipient with a push device, and two templates, once; and
    always returns working credentials.

    The raw API key and password exist only at creation (the database keeps hashes), so they are kept in
    var/demo-credentials.json (git-ignored, owner-only). When that file is missing or no longer works
    (another checkout shares the database, the key was revoked, the password changed), the demo admin
    gets a new password and a new demo API key is made, so `make run` can always print a working login.
    """
    path = _credentials_path()
    saved: dict[str, str] = {}
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except ValueError:
            saved = {}
    created = not User.objects.filter(email=DEMO_ADMIN_EMAIL).exists()
    if not created and _saved_still_valid(saved):
        _topic_seed(saved["recipient_id"])  # the printed topic send must work (an install from before topics)
        return DemoSeed(state="kept", credentials=_credentials_text(saved))

    password = secrets.token_urlsafe(12)
    with transaction.atomic():
        admin = User.objects.select_for_update().filter(email=DEMO_ADMIN_EMAIL).first()
        if admin is None:
            User.objects.create_superuser(DEMO_ADMIN_EMAIL, password, name="Demo admin")
        else:
            admin.set_password(password)
            admin.is_active = True
            admin.save(update_fields=["password", "is_active"])
        _, api_key = APIKey.objects.create_key(name="demo")
        saved = {"password": password, "api_key": api_key, "recipient_id": _recipient_id()}
        _templates_seed()
        _topic_seed(saved["recipient_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(json.dumps(saved))
    return DemoSeed(state="seeded" if created else "renewed", credentials=_credentials_text(saved))
