"""Provider failover within a channel, against two real SMTP servers (and the FCM stand-in for push): a
notification goes to the first provider whose breaker is closed; a failure of that provider is tried on
the next one at once; a refusal of the recipient is not; nothing is sent twice."""

import json
import smtplib
from datetime import UTC, datetime, timedelta

import pybreaker
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django_redis import get_redis_connection

from notifications.delivery import delivery_batch_send
from notifications.delivery.batch import _fails_over
from notifications.models import AttemptOutcome, DeliveryAttempt, Notification, NotificationStatus
from notifications.providers.base import RecipientDeferredError, TransientDeliveryError
from notifications.providers.breakers import _storage, breaker_get
from notifications.providers.email import email_error_classify
from notifications.providers.registry import breaker_names_configured, providers_for
from notifications.tests.factories import NotificationFactory
from standins.boundary import SmtpServer
from users.tests.factories import DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

SMTP = "notifications.providers.smtp.SmtpProvider"
VARIABLES = {"name": "Ada", "code": "7"}


def _account(name: str, server: SmtpServer) -> dict:
    return {"class": SMTP, "name": name, "options": {"host": "127.0.0.1", "port": server.port, "timeout": 5}}


@pytest.fixture
def servers(email_template):
    """Two SMTP accounts, `primary` and `backup`, each its own real SMTP server."""
    primary, backup = SmtpServer(), SmtpServer()
    primary.start()
    backup.start()
    with override_settings(
        EMAIL_PROVIDERS=[_account("primary", primary), _account("backup", backup)],
        SMTP_USE_TLS=False,
        BREAKER_FAIL_MAX=3,
        BREAKER_RESET_SECONDS=30,
    ):
        yield primary, backup
    primary.stop()
    backup.stop()


def _queued(count: int, **fields) -> list[Notification]:
    user = fields.pop("user", None) or UserFactory()
    return [
        NotificationFactory(user=user, status=NotificationStatus.QUEUED, variables=VARIABLES, **fields)
        for _ in range(count)
    ]


def _received(server: SmtpServer) -> list[str]:
    return [str(message["X-Notification-Id"]) for message in server.handler.messages]


def _send(notifications: list[Notification], size: int = 5) -> None:
    ids = [str(n.id) for n in notifications]
    for start in range(0, len(ids), size):
        delivery_batch_send(notification_ids=ids[start : start + size], channel="email", worker="w:1")


def test_with_the_first_server_down_everything_goes_to_the_second_in_order_once(servers):
    primary, backup = servers
    primary.stop()
    notifications = _queued(20)

    _send(notifications)

    ids = [str(n.id) for n in notifications]
    assert _received(backup) == ids  # in due order, each once
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}
    # The first batches tried the primary for one message each until its breaker opened (BREAKER_FAIL_MAX
    # failures); from then on it was not called at all.
    failed_over = DeliveryAttempt.objects.filter(provider="primary", outcome=AttemptOutcome.TRANSIENT_ERROR)
    assert failed_over.count() == 3
    assert breaker_get("email.primary").current_state == pybreaker.STATE_OPEN
    assert DeliveryAttempt.objects.filter(provider="backup", outcome=AttemptOutcome.SENT).count() == 20
    first = Notification.objects.get(pk=notifications[0].pk)
    assert first.attempts == 2
    assert first.transient_failures == 0  # a failover spends no retry budget
    assert [(a.number, a.provider, a.outcome) for a in first.delivery_attempts.order_by("number")] == [
        (1, "primary", AttemptOutcome.TRANSIENT_ERROR),
        (2, "backup", AttemptOutcome.SENT),
    ]


def test_the_first_back_with_its_breaker_half_open_takes_the_traffic_again(servers):
    primary, backup = servers
    storage = _storage("email.primary")
    breaker_get("email.primary").open()
    # Opened longer ago than BREAKER_RESET_SECONDS: the next call is the breaker's trial call. (pybreaker
    # only ever moves opened_at forward, so the key is written as it stores it.)
    opened_at = datetime.now(UTC) - timedelta(seconds=31)
    get_redis_connection("default").set(storage._namespace("opened_at"), int(opened_at.timestamp()))
    notifications = _queued(5)

    _send(notifications)

    assert _received(primary) == [str(n.id) for n in notifications]
    assert _received(backup) == []
    assert breaker_get("email.primary").current_state == pybreaker.STATE_CLOSED


def test_an_open_first_breaker_sends_on_the_second_without_calling_the_first(servers):
    primary, backup = servers
    breaker_get("email.primary").open()
    notifications = _queued(3)

    _send(notifications)

    assert (_received(primary), _received(backup)) == ([], [str(n.id) for n in notifications])
    assert not DeliveryAttempt.objects.filter(provider="primary").exists()


def test_with_several_connections_the_window_on_its_way_is_recorded_where_it_went(servers):
    primary, backup = servers
    accounts = [_account("primary", primary), _account("backup", backup)]
    accounts[0]["options"]["connections"] = 2  # messages go out two at a time
    broken = UserFactory(email="broken@example.com")
    primary.handler.data_refuse["broken@example.com"] = "451 4.3.0 local error in processing"
    [first] = _queued(1, user=broken)
    second, third, fourth = _queued(3)

    with override_settings(EMAIL_PROVIDERS=accounts):
        _send([first, second, third, fourth])

    # `second` left with `first`, on the primary, and was accepted there: recorded there, not sent again.
    assert _received(primary) == [str(second.id)]
    assert _received(backup) == [str(first.id), str(third.id), str(fourth.id)]
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}
    assert list(
        Notification.objects.get(pk=second.pk).delivery_attempts.values_list("provider", flat=True)
    ) == ["primary"]


def test_a_recipient_refused_fails_at_once_without_trying_the_second_server(servers):
    primary, backup = servers
    user = UserFactory(email="gone@example.com")
    primary.handler.always_refuse["gone@example.com"] = "550 5.1.1 no such user"
    [refused] = _queued(1, user=user)
    [fine] = _queued(1)

    _send([refused, fine])

    refused.refresh_from_db()
    assert refused.status == NotificationStatus.FAILED
    assert refused.error.startswith("permanent:")
    assert _received(primary) == [str(fine.id)]
    assert _received(backup) == []
    assert list(refused.delivery_attempts.values_list("provider", "outcome")) == [
        ("primary", AttemptOutcome.PERMANENT_ERROR)
    ]


def test_a_recipient_deferred_is_retried_later_not_on_the_second_server(servers):
    primary, backup = servers
    user = UserFactory(email="full@example.com")
    primary.handler.rcpt_answers["full@example.com"] = ["452 4.2.2 mailbox full"]
    [deferred] = _queued(1, user=user)

    _send([deferred])

    deferred.refresh_from_db()
    assert (deferred.status, deferred.transient_failures) == (NotificationStatus.QUEUED, 1)
    assert _received(backup) == []


def test_both_servers_down_defers_with_the_retry_budget_spent_once(servers):
    primary, backup = servers
    primary.stop()
    backup.stop()
    [notification] = _queued(1)

    _send([notification])

    notification.refresh_from_db()
    assert (notification.status, notification.transient_failures) == (NotificationStatus.QUEUED, 1)
    assert list(notification.delivery_attempts.order_by("number").values_list("provider", flat=True)) == [
        "primary",
        "backup",
    ]


def test_only_failures_that_leave_the_message_surely_unsent_fail_over():
    refused_connection = email_error_classify(ConnectionRefusedError("refused"))
    timed_out_in_flight = email_error_classify(TimeoutError("timed out"), in_flight=True)
    server_answered = email_error_classify(smtplib.SMTPDataError(451, b"try later"), in_flight=True)

    assert _fails_over(refused_connection)
    assert _fails_over(server_answered)
    assert not _fails_over(timed_out_in_flight)  # the provider may have it
    assert not _fails_over(RecipientDeferredError("mailbox full"))
    assert not _fails_over(TimeoutError("no answer"))
    assert _fails_over(pybreaker.CircuitBreakerError("open"))  # met open: the provider was not called
    assert isinstance(refused_connection, TransientDeliveryError)


def test_push_fails_over_when_every_device_fails_at_the_first_provider(fcm_server, push_template, tmp_path):
    fcm_server.state.reset()
    user = UserFactory()
    DeviceFactory(user=user, token="token-a")
    fcm_server.state.scripted["token-a"] = [(503, "UNAVAILABLE")] * 5
    [notification] = [
        NotificationFactory(
            user=user,
            notification_type="push",
            template_code="alert",
            status=NotificationStatus.QUEUED,
            variables={"name": "Ada", "message": "m"},
        )
    ]
    with override_settings(
        PUSH_PROVIDERS=[
            "notifications.providers.fcm.FirebasePushProvider",
            "notifications.providers.push_file.FilePushProvider",
        ],
        FIREBASE_CREDENTIALS=str(fcm_server.credentials_path),
        FCM_ENDPOINT=fcm_server.endpoint,
        PUSH_FILE_PATH=str(tmp_path),
    ):
        delivery_batch_send(notification_ids=[str(notification.id)], channel="push", worker="w:1")

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
    assert list(notification.delivery_attempts.order_by("number").values_list("provider", "outcome")) == [
        ("fcm", AttemptOutcome.TRANSIENT_ERROR),
        ("push_file", AttemptOutcome.SENT),
    ]
    assert len(list(tmp_path.iterdir())) == 1


def test_provider_entries_take_a_name_and_options_and_names_must_differ(servers):
    assert [slot.breaker_name for slot in providers_for("email")] == ["email.primary", "email.backup"]
    assert breaker_names_configured()[:2] == ["email.primary", "email.backup"]
    with override_settings(EMAIL_PROVIDERS=[SMTP, SMTP]), pytest.raises(ImproperlyConfigured):
        providers_for("email")
    with (
        override_settings(EMAIL_PROVIDERS=[{"class": SMTP, "port": 25}]),
        pytest.raises(ImproperlyConfigured),
    ):
        providers_for("email")


def test_the_environment_takes_a_json_list_of_providers():
    from notifier.settings import delivery

    entries = [{"class": SMTP, "name": "primary", "options": {"host": "smtp.example"}}, "x.y.Provider"]
    assert delivery._provider_list(json.dumps(entries)) == entries
    assert delivery._provider_list("a.b.One, c.d.Two") == ["a.b.One", "c.d.Two"]
    with pytest.raises(ImproperlyConfigured):
        delivery._provider_list('[{"class": "x"}')  # not JSON: refused at start, not guessed


@pytest.mark.parametrize(
    ("entries", "error_id"),
    [
        ([{"class": SMTP, "options": {"hots": "typo.example"}}], "notifications.E003"),
        (["notifications.providers.nowhere.Provider"], "notifications.E002"),
        ([SMTP, SMTP], "notifications.E004"),
        ([{"class": SMTP, "port": 25}], "notifications.E001"),
    ],
)
def test_a_wrong_provider_list_stops_every_command_at_start_with_its_reason(entries, error_id):
    from notifications.checks import provider_settings_check

    with override_settings(EMAIL_PROVIDERS=entries):
        errors = provider_settings_check(None)

    assert [error.id for error in errors] == [error_id]


def test_the_shipped_provider_settings_pass_the_check():
    from notifications.checks import provider_settings_check

    assert provider_settings_check(None) == []
