"""A real test notification, end to end: `manage.py send_test` sends one through the whole system (API's
accept service, outbox, relay, broker, worker, provider) and waits for its outcome, so an operator can
check a provider's settings without writing a client."""

import secrets
import time
import uuid
from datetime import UTC, datetime

from django.db import transaction

from notifications.models import FINAL_STATUSES, Notification, NotificationStatus
from notifications.services.accept import notification_accept
from notifier.api.errors import ApplicationError
from templates_app.languages import language_default
from templates_app.models import Template
from templates_app.services import template_create_or_version
from users.models import User
from users.services import user_create

TEST_TEMPLATE_CODE = "notifier-test"
SEND_TEST_CALLER = "command:send_test"
# Past these, the test's notification will not move on by itself: the command stops waiting.
OUTCOME_STATUSES = frozenset({*FINAL_STATUSES, NotificationStatus.FAILED})


def send_test_template_ensure(*, channel: str) -> None:
    """The test template of the channel, in the default language, made once."""
    if Template.objects.filter(
        code=TEST_TEMPLATE_CODE, notification_type=channel, language=language_default()
    ).exists():
        return
    template_create_or_version(
        code=TEST_TEMPLATE_CODE,
        notification_type=channel,
        subject="notifier test",
        body="A test {{channel}} notification from notifier, sent at {{sent_at}}.",
        description="Sent by manage.py send_test.",
    )


def send_test_recipient_get_or_create(*, email: str) -> tuple[User, bool]:
    """The user with this address, or a new one made for the test (with a random password), and whether
    it was made now."""
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is not None:
            return user, False
        user = user_create(name="Test recipient", email=email, password=secrets.token_urlsafe(32))
    return user, True


def send_test_accept(*, user_id: uuid.UUID, channel: str) -> Notification:
    """Accepts one urgent test notification for the user, as a send through the API would."""
    send_test_template_ensure(channel=channel)
    return notification_accept(
        caller=SEND_TEST_CALLER,
        request_id=f"send-test-{uuid.uuid4()}",
        notification_type=channel,
        user_id=user_id,
        template_code=TEST_TEMPLATE_CODE,
        variables={"channel": channel, "sent_at": datetime.now(UTC).isoformat(timespec="seconds")},
        priority=10,
    ).notification


def send_test_outcome_wait(*, notification_id: uuid.UUID, timeout: float, poll: float = 0.2) -> Notification:
    """The notification once it reached an outcome (sent, failed, skipped, ...), or as it stands when
    `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        notification = Notification.objects.prefetch_related("delivery_attempts").get(pk=notification_id)
        if notification.status in OUTCOME_STATUSES or time.monotonic() >= deadline:
            return notification
        time.sleep(poll)


def send_test_user_get(*, user_id: str) -> User:
    try:
        parsed = uuid.UUID(user_id)
    except ValueError:
        raise ApplicationError("Not a user id.", code="validation_error") from None
    user = User.objects.filter(pk=parsed).first()
    if user is None:
        raise ApplicationError("No such user.", code="not_found", status=404)
    return user
