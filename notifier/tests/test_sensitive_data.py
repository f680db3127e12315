"""Email addresses and device tokens stay in PostgreSQL: never in task messages (they sit in the broker,
the DLQ and its listings) and never in log records."""

import json
import logging
import uuid

import kombu
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from notifications.delivery import delivery_batch_send
from notifier.celery import EXCHANGE_NAME
from templates_app.tests.factories import TemplateFactory, TemplateVersionFactory
from users.tests.factories import DeviceFactory, UserFactory

EMAIL = "secret.person@example.org"
TOKEN = "sEcReTtOkEn:APA91b" + "Q" * 60


@pytest.fixture
def recipient(db):
    user = UserFactory(email=EMAIL)
    DeviceFactory(user=user, token=TOKEN)
    for channel in ("email", "push"):
        template = TemplateFactory(code="welcome", notification_type=channel, language="en")
        version = TemplateVersionFactory(template=template, version=1)
        template.active_version = version
        template.save()
    return user


def _accept_both(service_client, user) -> dict[str, str]:
    ids = {}
    for channel in ("email", "push"):
        response = service_client.post(
            "/api/v1/notifications/",
            {
                "notification_type": channel,
                "user_id": str(user.id),
                "template_code": "welcome",
                "variables": {"name": "Ada"},
                "request_id": uuid.uuid4().hex,
            },
            format="json",
        )
        assert response.status_code == 202, response.content
        ids[channel] = response.json()["data"]["notification_id"]
    return ids


@pytest.fixture
def task_messages():
    """Copies of every task message routed to email or push on the suite's vhost, from a private queue
    (the real queues may have consumers: worker processes of other tests)."""
    exchange = kombu.Exchange(EXCHANGE_NAME, type="topic", durable=True)
    with kombu.Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as connection:
        channel = connection.channel()
        exchange(channel).declare()
        queue = kombu.Queue(
            f"test-sensitive-{uuid.uuid4().hex}", exchange=exchange, routing_key="email", exclusive=True
        )(channel)
        queue.declare()
        queue.bind_to(exchange=EXCHANGE_NAME, routing_key="push")

        def read() -> list[kombu.Message]:
            messages = []
            while (message := queue.get(no_ack=True)) is not None:
                messages.append(message)
            return messages

        yield read


def test_task_messages_carry_only_notification_ids(service_client, recipient, task_messages):
    ids = _accept_both(service_client, recipient)
    call_command("outbox_relay", "--once")  # publishes what the requests did not

    ours = {}
    for message in task_messages():
        args, kwargs, _ = json.loads(message.body)
        if args and set(args[0]) & set(ids.values()):
            ours[message.delivery_info["routing_key"]] = (args, kwargs, message)

    # One argument, the batch of ids (here a batch of one each).
    assert {channel: value[:2] for channel, value in ours.items()} == {
        "email": ([[ids["email"]]], {}),
        "push": ([[ids["push"]]], {}),
    }
    for _, _, message in ours.values():
        body = message.body if isinstance(message.body, str) else message.body.decode()
        everything = (
            body + json.dumps(message.headers, default=str) + json.dumps(message.properties, default=str)
        )
        assert EMAIL not in everything and TOKEN not in everything
        # Celery's `origin` header names the publishing node, "gen<pid>@<host>": the one '@' allowed.
        assert "@" not in everything.replace(message.headers["origin"], "")


def _record_text(record: logging.LogRecord) -> str:
    fields = {key: repr(value) for key, value in vars(record).items()}
    return record.getMessage() + json.dumps(fields)


def test_accepting_and_delivering_logs_no_address_or_token(
    service_client, recipient, tmp_path, caplog, monkeypatch
):
    with (
        override_settings(
            EMAIL_PROVIDERS=["notifications.providers.django_mail.DjangoMailProvider"],
            EMAIL_BACKEND="notifications.providers.mail_outbox.FileOutboxBackend",
            EMAIL_FILE_PATH=str(tmp_path / "mail"),
            PUSH_PROVIDERS=["notifications.providers.push_file.FilePushProvider"],
            PUSH_FILE_PATH=str(tmp_path / "push"),
        ),
        caplog.at_level(logging.DEBUG),
    ):
        ids = _accept_both(service_client, recipient)
        results = {
            channel: delivery_batch_send(
                notification_ids=[notification_id], channel=channel, worker="test"
            ).sent
            for channel, notification_id in ids.items()
        }

    assert results == {"email": 1, "push": 1}
    assert (tmp_path / "mail" / f"{ids['email']}.eml").read_text().count(EMAIL) >= 1  # it was used
    assert caplog.records, "expected the accept and delivery paths to log"
    leaking = [r.getMessage() for r in caplog.records if EMAIL in _record_text(r) or TOKEN in _record_text(r)]
    assert leaking == []
