import uuid
from typing import Any

import factory
from factory.django import DjangoModelFactory

from notifications.models import Notification, NotificationStatus
from users.tests.factories import UserFactory


class NotificationFactory(DjangoModelFactory):
    """A notification as the pipeline leaves it; `status` and the rest are set per test."""

    class Meta:
        model = Notification

    caller = "key:test"
    request_id = factory.Sequence(lambda n: f"request-{n}")
    request_hash = "h"
    user = factory.SubFactory(UserFactory)
    notification_type = "email"
    template_code = "welcome"
    status = NotificationStatus.SENT


def send_body(user: Any, **overrides: Any) -> dict[str, Any]:
    """A single send's body: the `welcome` email template's variables, a new request_id."""
    body = {
        "notification_type": "email",
        "user_id": str(user.id),
        "template_code": "welcome",
        "variables": {"name": "Ada", "code": "7"},
        "request_id": f"req-{uuid.uuid4()}",
    }
    body.update(overrides)
    return body
