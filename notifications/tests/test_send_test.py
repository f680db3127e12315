"""`manage.py send_test` against the running pipeline (real workers, the SMTP server and the FCM
stand-in): a real test notification, its outcome waited for and reported."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from notifications.models import Notification
from users.models import User
from users.tests.factories import DeviceFactory, UserFactory

pytestmark = [pytest.mark.workers, pytest.mark.timeout(120)]


def _run(*args: str) -> dict:
    out = io.StringIO()
    call_command("send_test", *args, "--json", "--timeout", "30", stdout=out)
    return json.loads(out.getvalue())


def test_an_email_to_a_new_address_is_sent_and_reported(pipeline, smtp_server):
    report = _run("--email", "ops@example.com")

    assert (report["status"], report["channel"], report["provider"]) == ("sent", "email", "smtp")
    [message] = smtp_server.handler.messages_for(report["notification_id"])
    assert message["To"] == "ops@example.com"
    assert message["Subject"] == "notifier test"
    assert str(User.objects.get(email="ops@example.com").id) == report["user_id"]
    assert Notification.objects.get(pk=report["notification_id"]).lane == "urgent"


def test_a_push_to_a_user_with_a_device_is_sent(pipeline, fcm_server):
    user = UserFactory()
    DeviceFactory(user=user, token="token-send-test")
    pipeline.start("push-urgent")  # a test is urgent; the suite's pools leave this one out otherwise
    try:
        report = _run("--user", str(user.id), "--push")
    finally:
        pipeline.stop("push-urgent")

    assert (report["status"], report["provider"]) == ("sent", "fcm")
    [sent] = fcm_server.state.sent_for(report["notification_id"])
    assert sent["message"]["token"] == "token-send-test"


def test_a_push_to_a_user_without_a_device_fails_the_command_with_the_reason(pipeline):
    user = UserFactory()

    with pytest.raises(CommandError, match="skipped: the user has no active push device"):
        call_command("send_test", "--user", str(user.id), "--push", stdout=io.StringIO())


@pytest.mark.parametrize("user_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000001"])
def test_an_unknown_user_is_refused_and_nothing_is_sent(db, user_id):
    with pytest.raises(CommandError):
        call_command("send_test", "--user", user_id, stdout=io.StringIO())

    assert not Notification.objects.exists()
