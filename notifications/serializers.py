import re
import threading
import uuid
from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from notifications.channels import Lane
from notifications.models import (
    BROADCAST_REQUEST_ID_PREFIX,
    Broadcast,
    BroadcastStatus,
    DeliveryAttempt,
    Notification,
    NotificationStatus,
    Topic,
)
from notifications.services.schedule import SCHEDULE_FIELDS
from notifier.api.validation import JSONObjectField
from templates_app.models import NotificationType

LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class OffsetDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that names its offset (`Z` or `+01:00`): a time without one would be read in the
    server's zone, which the caller cannot see."""

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is not None and parsed.tzinfo is None:
                raise serializers.ValidationError(
                    "Give the time with its UTC offset, e.g. 2026-12-24T09:00:00+01:00 or ...Z."
                )
        return super().to_internal_value(value)


class NotificationCreateSerializer(serializers.Serializer):
    notification_type = serializers.ChoiceField(choices=NotificationType.choices)
    user_id = serializers.UUIDField()
    template_code = serializers.SlugField(max_length=100)
    variables = JSONObjectField(max_bytes=32 * 1024, default=dict)
    request_id = serializers.CharField(min_length=1, max_length=128, trim_whitespace=False)
    priority = serializers.IntegerField(min_value=1, max_value=10, default=5)
    language = serializers.RegexField(LANGUAGE_PATTERN, max_length=16, required=False)
    metadata = JSONObjectField(max_bytes=8 * 1024, default=dict)
    send_at = OffsetDateTimeField(
        required=False,
        help_text="Send at this time (ISO 8601 with offset), at most SCHEDULE_MAX_DAYS (30) ahead; the "
        "notification is `scheduled` until then. A past time means now.",
    )
    expires_at = OffsetDateTimeField(
        required=False,
        help_text="Not sent after this time: a notification no provider had by then ends `expired`. "
        "Default: DELIVERY_DEADLINE_SECONDS after it is due.",
    )
    ttl_seconds = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=10**9,  # far beyond SCHEDULE_MAX_DAYS, which the service checks; keeps the time finite
        help_text="Instead of expires_at: expires this many seconds after it is due (send_at, or now).",
    )
    lane = serializers.ChoiceField(
        choices=[lane.value for lane in Lane],
        required=False,
        help_text="The queue it travels in: `urgent` (its own workers; default for a priority of at least "
        "PRIORITY_URGENT_MIN, 8), `normal` (default for a single send) or `bulk` (default for batch and "
        "topic sends).",
    )

    def validate_request_id(self, value: str) -> str:
        if not value.isprintable():
            raise serializers.ValidationError("Must be printable characters only.")
        if value.startswith(BROADCAST_REQUEST_ID_PREFIX):
            raise serializers.ValidationError(
                f"Must not start with {BROADCAST_REQUEST_ID_PREFIX!r} (reserved for broadcasts)."
            )
        return value


_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}")
_LANGUAGE = re.compile(LANGUAGE_PATTERN.removeprefix("^").removesuffix("$"))
_CHANNELS = frozenset(NotificationType.values)
# Bodies naming these go through the serializer (the fast path answers the common body only).
_SLOW_PATH_KEYS = frozenset({*SCHEDULE_FIELDS, "lane"})


def notification_create_fast(data: Any, validator: NotificationCreateSerializer) -> dict[str, Any] | None:
    """What `validator.run_validation(data)` answers for the common, well-formed body, at a fraction of
    its cost; None when the body is not plainly well-formed, and the serializer must decide (and name the
    errors). Each check accepts a subset of what its field accepts and answers what the field answers
    (the JSON objects go through the fields' own checks); `test_serializers` holds the two to that.
    Measured: DRF's validation was half the CPU of a batch request (~150 µs an item)."""
    if type(data) is not dict or not _SLOW_PATH_KEYS.isdisjoint(data):
        return None
    notification_type, user_id = data.get("notification_type"), data.get("user_id")
    template_code, request_id = data.get("template_code"), data.get("request_id")
    priority = data.get("priority", 5)
    if not (
        type(notification_type) is str
        and notification_type in _CHANNELS
        and type(user_id) is str
        and type(template_code) is str
        and _SLUG.fullmatch(template_code)
        and type(request_id) is str
        and 0 < len(request_id) <= 128
        and request_id.isprintable()
        and not request_id.startswith(BROADCAST_REQUEST_ID_PREFIX)
        and type(priority) is int
        and 1 <= priority <= 10
    ):
        return None
    try:
        parsed_user_id = uuid.UUID(user_id)
    except ValueError:
        return None
    fields = validator.fields
    objects = {}
    for name in ("variables", "metadata"):
        value = data.get(name, None) if name in data else {}
        if type(value) is not dict:
            return None
        try:
            objects[name] = fields[name].to_internal_value(value)
        except serializers.ValidationError:
            return None
    validated: dict[str, Any] = {
        "notification_type": notification_type,
        "user_id": parsed_user_id,
        "template_code": template_code,
        "variables": objects["variables"],
        "request_id": request_id,
        "priority": priority,
    }
    if "language" in data:
        language = data["language"]
        if not (type(language) is str and len(language) <= 16 and _LANGUAGE.fullmatch(language)):
            return None
        validated["language"] = language
    validated["metadata"] = objects["metadata"]
    return validated


_validators = threading.local()


def notification_create_validator() -> NotificationCreateSerializer:
    """This thread's send validator: its fields are built once (a serializer per request or per item
    deep-copies them)."""
    validator = getattr(_validators, "create", None)
    if validator is None:
        validator = _validators.create = NotificationCreateSerializer()
    return validator


def notification_create_validate(data: Any, validator: NotificationCreateSerializer) -> dict[str, Any]:
    """A single send's validated body: the fast path, else the serializer (which raises ValidationError)."""
    fast = notification_create_fast(data, validator)
    return fast if fast is not None else dict(validator.run_validation(data))


class NotificationBatchSerializer(serializers.Serializer):
    """The batch envelope. Its items are validated one by one, each exactly as a single send's body
    (NotificationCreate), so that one invalid item does not refuse the others."""

    notifications = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        help_text="Up to NOTIFICATION_BATCH_MAX (1,000) single sends' bodies (see NotificationCreate), "
        "each with its own request_id.",
    )


class NotificationBatchItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's place in the request, from 0.")
    request_id = serializers.CharField(allow_null=True)
    notification_id = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(choices=NotificationStatus.choices, allow_null=True)
    http_status = serializers.IntegerField(
        help_text="What a single send of this item would have answered: 202 accepted, 200 a repeat, "
        "409 a request_id used with a different body, 400 invalid."
    )
    error = serializers.CharField(allow_null=True, help_text="The error code when refused, else null.")
    message = serializers.CharField()
    data = serializers.DictField(  # type: ignore[assignment]
        allow_null=True, help_text="Field errors, or the conflicting notification."
    )


class NotificationAcceptedSerializer(serializers.Serializer):
    notification_id = serializers.UUIDField()
    request_id = serializers.CharField()
    status = serializers.ChoiceField(choices=NotificationStatus.choices)


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = [
            "number",
            "worker",
            "outcome",
            "error_class",
            "error_message",
            "provider",
            "provider_message_id",
            "template_version",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer):
    notification_id = serializers.UUIDField(source="id", read_only=True)
    user_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Notification
        fields = [
            "notification_id",
            "request_id",
            "user_id",
            "notification_type",
            "template_code",
            "template_version",
            "language",
            "priority",
            "lane",
            "status",
            "error",
            "attempts",
            "correlation_id",
            "metadata",
            "provider_message_id",
            "created_at",
            "queued_at",
            "sent_at",
            "delivered_at",
            "failed_at",
            "send_at",
            "expires_at",
            "cancelled_at",
            "cancelled_by",
            "updated_at",
        ]
        read_only_fields = fields


class NotificationDetailSerializer(NotificationSerializer):
    delivery_attempts = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta(NotificationSerializer.Meta):
        fields = [*NotificationSerializer.Meta.fields, "delivery_attempts"]
        read_only_fields = fields


class StatusCallbackSerializer(serializers.Serializer):
    notification_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=[NotificationStatus.DELIVERED, NotificationStatus.FAILED])
    timestamp = serializers.DateTimeField(required=False)
    error = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class BroadcastCreateSerializer(NotificationCreateSerializer):
    """A send to many recipients: a single send's body with `topic` or `user_ids` in place of `user_id`."""

    user_id = None  # type: ignore[assignment]
    topic = serializers.SlugField(
        max_length=100, required=False, help_text="Send to this topic's subscribers."
    )
    user_ids = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=1,
        required=False,
        help_text="Send to these users (up to BROADCAST_USER_IDS_MAX, 10,000; repeats count once).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        named = [name for name in ("user_id", "topic", "user_ids") if name in self.initial_data]
        if len(named) != 1:
            raise serializers.ValidationError(
                {"non_field_errors": ["Give exactly one of user_id, topic and user_ids."]}
            )
        return attrs


def is_broadcast_body(data: Any) -> bool:
    """A send naming `topic` or `user_ids` is a broadcast; anything else is a single send."""
    return type(data) is dict and ("topic" in data or "user_ids" in data)


class BroadcastAcceptedSerializer(serializers.Serializer):
    broadcast_id = serializers.UUIDField()
    request_id = serializers.CharField()
    recipients = serializers.IntegerField(
        help_text="Recipients when it was accepted: the topic's subscribers, or the distinct user_ids."
    )
    status = serializers.ChoiceField(choices=BroadcastStatus.choices)


class BroadcastSerializer(serializers.ModelSerializer):
    broadcast_id = serializers.UUIDField(source="id", read_only=True)
    topic = serializers.CharField(source="topic_key", help_text="The topic's key; empty for a list send.")

    class Meta:
        model = Broadcast
        fields = [
            "broadcast_id",
            "request_id",
            "topic",
            "notification_type",
            "template_code",
            "language",
            "priority",
            "lane",
            "metadata",
            "status",
            "recipients",
            "notifications_created",
            "correlation_id",
            "send_at",
            "expires_at",
            "created_at",
            "updated_at",
            "completed_at",
            "cancelled_at",
            "cancelled_by",
        ]
        read_only_fields = fields


class BroadcastDetailSerializer(BroadcastSerializer):
    notifications_by_status = serializers.SerializerMethodField(
        help_text="How many of its notifications are in each status."
    )

    class Meta(BroadcastSerializer.Meta):
        fields = [*BroadcastSerializer.Meta.fields, "notifications_by_status"]
        read_only_fields = fields

    def get_notifications_by_status(self, broadcast: Broadcast) -> dict[str, int]:
        counts: dict[str, int] = self.context["counts"]
        return {status: counts.get(status, 0) for status in NotificationStatus.values}


class TopicSerializer(serializers.ModelSerializer):
    subscribers = serializers.IntegerField(read_only=True, help_text="How many users are subscribed.")

    class Meta:
        model = Topic
        fields = ["key", "name", "description", "subscribers", "created_at", "updated_at"]
        read_only_fields = fields


class TopicCreateSerializer(serializers.Serializer):
    key = serializers.SlugField(max_length=100, help_text="The topic's name in URLs and sends.")
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class TopicUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class TopicSubscribersInputSerializer(serializers.Serializer):
    user_ids = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=1,
        help_text="Up to TOPIC_SUBSCRIBERS_MAX_PER_CALL (10,000) user ids; repeats count once.",
    )


class TopicSubscribersChangeSerializer(serializers.Serializer):
    requested = serializers.IntegerField(help_text="Distinct user ids in the request.")
    changed = serializers.IntegerField(help_text="Added (POST) or removed (DELETE); the rest already were.")
    subscribers = serializers.IntegerField(help_text="The topic's subscribers after the change.")


class TopicSubscriberSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    subscribed_at = serializers.DateTimeField(source="created_at")


class UserTopicSerializer(serializers.Serializer):
    key = serializers.CharField(source="topic.key")
    name = serializers.CharField(source="topic.name")
    description = serializers.CharField(source="topic.description")
    subscribed_at = serializers.DateTimeField(source="created_at")
