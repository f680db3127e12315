"""Providers come from settings, in order, each with a breaker of its own."""

import pybreaker
import pytest
from django.test import override_settings

from notifications.delivery import delivery_batch_send
from notifications.models import NotificationStatus
from notifications.providers.breakers import breaker_get
from notifications.providers.django_mail import DjangoMailProvider
from notifications.providers.fcm import FirebasePushProvider
from notifications.providers.push_file import FilePushProvider
from notifications.providers.registry import breaker_names_configured, provider_for, providers_for
from notifications.providers.smtp import SmtpProvider
from notifications.tests.factories import NotificationFactory

FILE_OUTBOX = "notifications.providers.mail_outbox.FileOutboxBackend"
SMTP = "notifications.providers.smtp.SmtpProvider"
DJANGO_MAIL = "notifications.providers.django_mail.DjangoMailProvider"


def test_providers_follow_the_setting_in_order_with_a_breaker_each():
    with override_settings(EMAIL_PROVIDERS=[SMTP, DJANGO_MAIL], EMAIL_BACKEND=FILE_OUTBOX):
        slots = providers_for("email")

        assert [type(slot.provider) for slot in slots] == [SmtpProvider, DjangoMailProvider]
        assert [slot.breaker_name for slot in slots] == ["email.smtp", "email.mail_outbox"]
        assert provider_for("email") is slots[0]
        assert breaker_names_configured()[:2] == ["email.smtp", "email.mail_outbox"]


def test_a_changed_setting_makes_the_providers_anew():
    with override_settings(EMAIL_PROVIDERS=[SMTP]):
        assert isinstance(provider_for("email").provider, SmtpProvider)
    with override_settings(EMAIL_PROVIDERS=[DJANGO_MAIL], EMAIL_BACKEND=FILE_OUTBOX):
        assert isinstance(provider_for("email").provider, DjangoMailProvider)


def test_auto_push_is_firebase_when_its_credentials_exist(tmp_path):
    credentials = tmp_path / "serviceAccountKey.json"
    with override_settings(PUSH_PROVIDERS=["auto"], FIREBASE_CREDENTIALS=str(credentials)):
        assert isinstance(provider_for("push").provider, FilePushProvider)
        assert provider_for("push").breaker_name == "push.push_file"
    credentials.write_text("{}")
    with override_settings(PUSH_PROVIDERS=["auto"], FIREBASE_CREDENTIALS=str(credentials)):
        assert isinstance(provider_for("push").provider, FirebasePushProvider)
        assert provider_for("push").breaker_name == "push.fcm"


def test_an_unknown_provider_is_refused():
    with (
        override_settings(EMAIL_PROVIDERS=["notifications.providers.nowhere.Provider"]),
        pytest.raises(ImportError),
    ):
        provider_for("email")


@pytest.mark.django_db(transaction=True)
def test_an_open_breaker_holds_only_its_own_provider(email_template, tmp_path):
    """The SMTP provider's breaker is open; the file outbox, another provider, still delivers."""
    notification = NotificationFactory(
        status=NotificationStatus.QUEUED, variables={"name": "Ada", "code": "7"}
    )
    smtp_breaker = breaker_get("email.smtp")
    smtp_breaker.open()
    try:
        with override_settings(
            EMAIL_PROVIDERS=[DJANGO_MAIL], EMAIL_BACKEND=FILE_OUTBOX, EMAIL_FILE_PATH=str(tmp_path)
        ):
            report = delivery_batch_send(
                notification_ids=[str(notification.id)], channel="email", worker="w:1"
            )
    finally:
        smtp_breaker.close()

    assert report.sent == 1
    assert smtp_breaker.current_state == pybreaker.STATE_CLOSED
    assert (tmp_path / f"{notification.id}.eml").is_file()
