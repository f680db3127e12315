"""The operator's commands: setup_broker, seed_demo, outbox_relay, dlq."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework_api_key.models import APIKey

from notifications.models import Notification, NotificationStatus, OutboxEntry
from templates_app.models import Template
from users.models import User


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_setup_broker_declares_every_queue(broker):
    output = _run("setup_broker")

    for name in ("email.queue", "push.queue", "email.dlq", "push.dlq"):
        assert name in output


@pytest.mark.django_db
def test_seed_demo_seeds_once_and_prints_the_same_credentials(settings, tmp_path):
    settings.BASE_DIR = tmp_path

    first = _run("seed_demo")
    second = _run("seed_demo")

    assert "demo seeded:" in first
    assert "demo (seeded earlier):" in second
    key = next(line for line in first.splitlines() if line.startswith("API key")).split(": ", 1)[1]
    assert APIKey.objects.get_from_key(key).name == "demo"
    assert key in second
    assert User.objects.filter(is_staff=True).count() == 1
    assert set(Template.objects.values_list("code", "notification_type")) == {
        ("welcome", "email"),
        ("alert", "push"),
    }


@pytest.mark.django_db
def test_outbox_relay_once_publishes_the_outbox(broker, user, email_template):
    notification = Notification.objects.create(
        caller="key:x", request_id="left", request_hash="h", user=user, notification_type="email",
        template_code="welcome", variables={"name": "A", "code": "1"},
    )  # fmt: skip
    OutboxEntry.objects.create(notification=notification)

    output = _run("outbox_relay", "--once")

    notification.refresh_from_db()
    assert "relayed 1" in output
    assert notification.status == NotificationStatus.QUEUED
    assert not OutboxEntry.objects.exists()


def test_dlq_purge_refuses_a_bad_age():
    with pytest.raises(CommandError, match="--older-than"):
        call_command("dlq", "purge", "--older-than", "soon")


@pytest.mark.django_db
def test_dlq_list_on_an_empty_queue(broker):
    from notifications.tests.conftest import purge_queues

    purge_queues()

    assert "0 dead letter(s)" in _run("dlq", "list", "--queue", "email")
