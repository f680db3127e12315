"""Request and response shapes of /api/v1/webhooks/."""

from typing import Any

from django.conf import settings
from rest_framework import serializers

from notifications.models import WebhookEndpoint, WebhookEvent, WebhookEventType
from notifier.api.validation import StrictBooleanField


class WebhookEndpointSerializer(serializers.ModelSerializer):
    secret_prefix = serializers.SerializerMethodField(help_text="The first characters of the current secret.")
    previous_secret_valid_until = serializers.DateTimeField(
        source="previous_secret_expires_at",
        allow_null=True,
        help_text="After a rotation: until when the previous secret signs too (null: none).",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id", "url", "description", "events", "max_events_per_request", "is_active", "disabled_reason",
            "disabled_at", "failing_since", "secret_prefix", "previous_secret_valid_until", "created_by",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_secret_prefix(self, endpoint: WebhookEndpoint) -> str:
        return endpoint.secret[:10]


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (Standard Webhooks `whsec_…`). Shown only in this answer: keep it."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def to_representation(self, instance: Any) -> Any:
        endpoint, secret = instance
        return {**super().to_representation(endpoint), "secret": secret}


def _events_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices),
        min_length=1,
        max_length=len(WebhookEventType.choices),
        help_text="The events the endpoint receives.",
        **kwargs,
    )


def _max_events_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=1,
        max_value=settings.WEBHOOK_MAX_EVENTS_PER_REQUEST,
        help_text="Events per request: 1 (the default) sends each alone; more sends `batch` requests.",
        **kwargs,
    )


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, help_text="https only; no private or loopback address.")
    events = _events_field()
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    max_events_per_request = _max_events_field(required=False, default=1)


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, required=False)
    events = _events_field(required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    max_events_per_request = _max_events_field(required=False)
    is_active = StrictBooleanField(
        required=False, help_text="false disables it (its events wait); true enables it and sends them."
    )


class WebhookEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEvent
        fields = [
            "id", "event_type", "notification_id", "broadcast_id", "state", "attempts", "last_error",
            "created_at", "delivered_at", "payload",
        ]  # fmt: skip
        read_only_fields = fields
