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
