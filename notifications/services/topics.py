"""Topics: named audiences, and their subscribers added and removed in bulk.

Subscriptions are written set-based: one statement checks that every user exists and is active (an
unknown one refuses the whole call, writing nothing), and one multi-row INSERT ... ON CONFLICT DO
NOTHING adds them, so adding the same users twice is harmless and answers how many were new.
"""

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from notifications.models import Topic, TopicSubscription
from notifier.api.errors import ApplicationError
from users.models import User

# How many unknown user ids an error names (the rest are counted).
UNKNOWN_USERS_SHOWN = 20


def topic_not_found() -> ApplicationError:
    return ApplicationError("No such topic.", code="not_found", status=404)


def users_unknown_error(field: str, unknown: list[uuid.UUID]) -> ApplicationError:
    """Users that do not exist or are deactivated, named (the first UNKNOWN_USERS_SHOWN of them)."""
    shown = ", ".join(str(user_id) for user_id in unknown[:UNKNOWN_USERS_SHOWN])
    more = len(unknown) - UNKNOWN_USERS_SHOWN
    message = f"No such user: {shown}" + (f" (and {more} more)" if more > 0 else "")
    return ApplicationError(
        f"Invalid input: {message}",
        code="validation_error",
        status=400,
        data={field: [message], "unknown_user_ids": [str(user_id) for user_id in unknown]},
    )


def users_active_unknown(*, user_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Those of `user_ids` that are not active users, in the order given (one query)."""
    found = set(User.objects.filter(id__in=user_ids, is_active=True).values_list("id", flat=True))
    return [user_id for user_id in user_ids if user_id not in found]


def topic_create(*, key: str, name: str, description: str = "") -> Topic:
    try:
        with transaction.atomic():
            return Topic.objects.create(key=key, name=name, description=description)
    except IntegrityError:
        raise ApplicationError(
            "A topic with this key already exists.",
            code="conflict",
            status=409,
            data={"key": ["A topic with this key already exists."]},
        ) from None


def topic_update(*, topic: Topic, name: str | None = None, description: str | None = None) -> Topic:
    if name is not None:
        topic.name = name
    if description is not None:
        topic.description = description
    topic.save(update_fields=["name", "description", "updated_at"])
    return topic


def topic_delete(*, topic: Topic) -> None:
    """Deletes the topic and its subscriptions; its broadcasts keep its key."""
    topic.delete()


@dataclass(frozen=True)
class SubscribersChange:
    requested: int  # distinct users named
    changed: int  # added, or removed
    subscribers: int  # the topic's subscribers after the change


def _distinct(user_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(user_ids) > settings.TOPIC_SUBSCRIBERS_MAX_PER_CALL:
        raise ApplicationError(
            f"At most {settings.TOPIC_SUBSCRIBERS_MAX_PER_CALL} user ids per call.",
            code="payload_too_large",
            status=413,
        )
    return list(dict.fromkeys(user_ids))


def _subscriber_count(topic: Topic) -> int:
    return TopicSubscription.objects.filter(topic=topic).count()


def topic_subscribers_add(*, topic: Topic, user_ids: list[uuid.UUID]) -> SubscribersChange:
    """Subscribes the users to the topic; all or nothing: an unknown user refuses the call."""
    wanted = _distinct(user_ids)
    unknown = users_active_unknown(user_ids=wanted)
    if unknown:
        raise users_unknown_error("user_ids", unknown)
    table, users = TopicSubscription._meta.db_table, User._meta.db_table
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # Joined to the users again, so one deleted since the check is left out, not an error.
            cursor.execute(
                f"""
                INSERT INTO {table} (topic_id, user_id, created_at)
                SELECT %s, u.id, now() FROM {users} u WHERE u.id = ANY(%s::uuid[])
                ON CONFLICT (topic_id, user_id) DO NOTHING
                """,  # noqa: S608 - table names come from the models, values are parameters
                [topic.id, wanted],
            )
            added = cursor.rowcount
    except IntegrityError:
        raise topic_not_found() from None  # the topic was deleted meanwhile
    return SubscribersChange(requested=len(wanted), changed=added, subscribers=_subscriber_count(topic))


def topic_subscribers_remove(*, topic: Topic, user_ids: list[uuid.UUID]) -> SubscribersChange:
    """Unsubscribes the users; users who were not subscribers (or do not exist) are ignored."""
    wanted = _distinct(user_ids)
    removed, _ = TopicSubscription.objects.filter(topic=topic, user_id__in=wanted).delete()
    return SubscribersChange(requested=len(wanted), changed=removed, subscribers=_subscriber_count(topic))


def topic_leave(*, user: User, key: str) -> None:
    """The user leaves the topic `key`; 404 when they are not in it (or there is no such topic)."""
    removed, _ = TopicSubscription.objects.filter(topic__key=key, user=user).delete()
    if not removed:
        raise ApplicationError("Not subscribed to this topic.", code="not_found", status=404)
