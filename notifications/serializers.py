from rest_framework import serializers

from notifications.models import DeliveryAttempt, Notification, NotificationStatus
from notifier.api.validation import JSONObjectField
from templates_app.models import NotificationType

LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class NotificationCreateSerializer(serializers.Serializer):
    notification_type = serializers.ChoiceField(choices=NotificationType.choices)
    user_id = serializers.UUIDField()
    template_code = serializers.SlugField(max_length=100)
    variables = JSONObjectField(max_bytes=32 * 1024, default=dict)
    request_id = serializers.CharField(min_length=1, max_length=128, trim_whitespace=False)
    priority = serializers.IntegerField(min_value=1, max_value=10, default=5)
    language = serializers.RegexField(LANGUAGE_PATTERN, max_length=16, required=False)
    metadata = JSONObjectField(max_bytes=8 * 1024, default=dict)

    def validate_request_id(self, value: str) -> str:
        if not value.isprintable():
            raise serializers.ValidationError("Must be printable characters only.")
        return value


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
