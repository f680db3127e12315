"""Reads of notifications, scoped to what the caller may see."""

import uuid
from typing import Any

from django.db.models import Prefetch, QuerySet

from notifications.models import DeliveryAttempt, Notification


def notification_queryset(*, user_id: uuid.UUID | None) -> QuerySet[Notification]:
    """Every notification for privileged callers (user_id None); otherwise only that user's."""
    queryset = Notification.objects.all()
    return queryset if user_id is None else queryset.filter(user_id=user_id)


def notification_get(*, notification_id: Any, user_id: uuid.UUID | None) -> Notification | None:
    try:
        notification_uuid = uuid.UUID(str(notification_id))
    except ValueError:
        return None
    return (
        notification_queryset(user_id=user_id)
        .prefetch_related(Prefetch("delivery_attempts", queryset=DeliveryAttempt.objects.order_by("number")))
        .filter(pk=notification_uuid)
        .first()
    )
