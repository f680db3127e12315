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
