"""Notifications, their delivery attempts, and the transactional outbox that hands them to the broker."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from notifications.channels import Lane
from templates_app.models import NotificationType

# A broadcast's notifications carry request_ids `broadcast:<broadcast id>:<user id>`; callers' may not.
BROADCAST_REQUEST_ID_PREFIX = "broadcast:"


LANE_CHOICES = [(lane.value, lane.value) for lane in Lane]


def _lane_field() -> models.CharField:
    return models.CharField(
        max_length=8, choices=LANE_CHOICES, default=Lane.NORMAL.value, db_default=Lane.NORMAL.value
    )


class NotificationStatus(models.TextChoices):
    PENDING = "pending"  # accepted and written; its outbox entry is not yet confirmed by the broker
    QUEUED = "queued"  # the broker confirmed the task message
    SENDING = "sending"  # a worker claimed it and is talking to the provider
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"  # the provider confirmed delivery (webhook or status callback)
    FAILED = "failed"  # permanent failure or retries exhausted; the message sits in the DLQ
    SKIPPED = "skipped"  # nothing to send: the channel is disabled or there is no device
    SCHEDULED = "scheduled"  # accepted with a send_at still ahead; its outbox entry is due then
    CANCELLED = "cancelled"  # cancelled before any provider had it
    EXPIRED = "expired"  # its expiry came before a provider had it; never sent late


# States after which a worker must not send again.
FINAL_STATUSES = frozenset(
    {
        NotificationStatus.SENT,
        NotificationStatus.DELIVERED,
        NotificationStatus.SKIPPED,
        NotificationStatus.CANCELLED,
        NotificationStatus.EXPIRED,
    }
)


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Who asked: "key:<api key id>" or "user:<user id>"; request_id is unique per caller.
    caller = models.CharField(max_length=64)
    request_id = models.CharField(max_length=128)
    request_hash = models.CharField(max_length=64)
    # Indexed by notif_user_created (user, -created_at): a second index of its own would only slow writes.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    notification_type = models.CharField(max_length=16, choices=NotificationType.choices)
    template_code = models.CharField(max_length=100)
    language = models.CharField(max_length=16, blank=True, default="")
    variables = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)
    priority = models.PositiveSmallIntegerField(default=5)
    # Which of its channel's queues it travels through (notifications/channels.py).
    lane = _lane_field()
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    error = models.TextField(blank=True, default="")
    correlation_id = models.CharField(max_length=128, blank=True, default="")
    # Provider calls made, and transient failures since the last (re)queue: the retry budget's count.
    attempts = models.PositiveIntegerField(default=0)
    transient_failures = models.PositiveIntegerField(default=0)
    template_version = models.PositiveIntegerField(null=True, blank=True)
    # The worker process ("host:pid") that last claimed it for sending.
    claimed_by = models.CharField(max_length=255, blank=True, default="")
    provider_message_id = models.CharField(max_length=255, blank=True, default="")
    # Push: device ids already sent to, so a retry after a partial failure sends only to the rest.
    delivered_device_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    # A scheduled send: not handed to the broker before this time.
    send_at = models.DateTimeField(null=True, blank=True)
    # Not handed to a provider after this time (null: DELIVERY_DEADLINE_SECONDS after it was due).
    expires_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # Who cancelled it, as `caller` names a sender ("key:<prefix>" or "user:<id>"). Columns added after
    # the first release have a database default, so code that does not write them yet still can insert.
    cancelled_by = models.CharField(max_length=64, blank=True, default="", db_default="")
    # The broadcast (topic or list send) this notification is one recipient's part of.
    broadcast = models.ForeignKey(
        "Broadcast", on_delete=models.SET_NULL, null=True, blank=True, db_index=False,
        related_name="notifications",
    )  # fmt: skip

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["caller", "request_id"], name="notifications_caller_request_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notif_user_created"),
            models.Index(fields=["status", "-created_at"], name="notif_status_created"),
            # Only sent notifications carry one: the others cost no index entry.
            models.Index(
                fields=["provider_message_id"],
                name="notif_provider_message_id",
                condition=~models.Q(provider_message_id=""),
            ),
            # Only a broadcast's notifications carry one: a partial index costs the others nothing.
            models.Index(
                fields=["broadcast", "status"],
                name="notif_broadcast_status",
                condition=models.Q(broadcast__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.notification_type} {self.id} ({self.status})"


class OutboxEntry(models.Model):
    """What is due to be handed to the broker, and from when: written in the accept transaction (due at
    once), by a retry or a deferral (due after its backoff), by a replay, and by the relay's sweep of
    notifications that stopped moving. Deleted once the broker confirms the task message."""

    id = models.BigAutoField(primary_key=True)
    notification = models.OneToOneField(Notification, on_delete=models.CASCADE, related_name="outbox_entry")
    created_at = models.DateTimeField(auto_now_add=True)
    # The relay publishes an entry once this time has come.
    available_at = models.DateTimeField(default=timezone.now, db_default=Now())
    publish_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # The notification's lane: the relay takes the urgent entries first.
    lane = _lane_field()

    class Meta:
        verbose_name_plural = "outbox entries"
        ordering = ["available_at"]
        indexes = [
            models.Index(fields=["available_at"], name="outbox_available_at"),
            # Small: only the urgent entries, read before anything else each round.
            models.Index(fields=["available_at"], name="outbox_urgent", condition=models.Q(lane="urgent")),
        ]

    def __str__(self) -> str:
        return f"outbox {self.notification_id}"


class AttemptOutcome(models.TextChoices):
    SENT = "sent"
    TRANSIENT_ERROR = "transient_error"
    PERMANENT_ERROR = "permanent_error"
    SKIPPED = "skipped"


class DeliveryAttempt(models.Model):
    id = models.BigAutoField(primary_key=True)
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="delivery_attempts")
    number = models.PositiveIntegerField()
    worker = models.CharField(max_length=255)
    outcome = models.CharField(max_length=32, choices=AttemptOutcome.choices)
    error_class = models.CharField(max_length=255, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    # The provider called (its name in the channel's provider list, e.g. "smtp", "sendgrid").
    provider = models.CharField(max_length=64, blank=True, default="", db_default="")
    provider_message_id = models.CharField(max_length=255, blank=True, default="")
    template_version = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["notification", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.notification_id}: {self.outcome}"


class Topic(models.Model):
    """A named audience: its subscribers receive what is sent to the topic."""

    id = models.BigAutoField(primary_key=True)
    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class TopicSubscription(models.Model):
    id = models.BigAutoField(primary_key=True)
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="subscriptions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="topic_subscriptions"
    )
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        ordering = ["topic", "user"]
        # Also the fan-out's index: a topic's subscribers in user order.
        constraints = [models.UniqueConstraint(fields=["topic", "user"], name="topic_subscription_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.topic_id}"


class BroadcastStatus(models.TextChoices):
    EXPANDING = "expanding"  # accepted; its recipients are being turned into notifications, in chunks
    COMPLETE = "complete"  # every recipient has their notification
    CANCELLED = "cancelled"  # cancelled: no more notifications are made, those not yet sent are cancelled


class Broadcast(models.Model):
    """One send to many recipients (a topic's subscribers, or a list of users). The fan-out expands it
    into one notification per recipient, in user order from `cursor`, each chunk in one transaction with
    the cursor's move, and each notification idempotent by (broadcast, user)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    caller = models.CharField(max_length=64)
    request_id = models.CharField(max_length=128)
    request_hash = models.CharField(max_length=64)
    topic = models.ForeignKey(
        Topic, on_delete=models.SET_NULL, null=True, blank=True, related_name="broadcasts"
    )
    # The topic's key, kept when the topic is deleted; "" for a list send.
    topic_key = models.CharField(max_length=100, blank=True, default="")
    # A topic send reaches the subscriptions that existed when it was accepted: ids up to this one.
    subscription_horizon = models.BigIntegerField(null=True, blank=True)
    # A list send's recipients, sorted.
    user_ids = ArrayField(models.UUIDField(), null=True, blank=True)
    notification_type = models.CharField(max_length=16, choices=NotificationType.choices)
    template_code = models.CharField(max_length=100)
    language = models.CharField(max_length=16, blank=True, default="")
    variables = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)
    priority = models.PositiveSmallIntegerField(default=5)
    lane = _lane_field()
    correlation_id = models.CharField(max_length=128, blank=True, default="")
    # Every recipient's notification is scheduled for send_at and expires at expires_at.
    send_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(max_length=64, blank=True, default="", db_default="")
    status = models.CharField(
        max_length=16, choices=BroadcastStatus.choices, default=BroadcastStatus.EXPANDING
    )
    recipients = models.PositiveIntegerField(default=0)
    notifications_created = models.PositiveIntegerField(default=0)
    # The last recipient expanded (users are expanded in id order).
    cursor = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["caller", "request_id"], name="broadcast_caller_request_unique"),
        ]
        indexes = [
            models.Index(
                fields=["updated_at"],
                name="broadcast_expanding",
                condition=models.Q(status="expanding"),
            ),
        ]

    def __str__(self) -> str:
        return f"broadcast {self.id} ({self.status})"


class WebhookEventType(models.TextChoices):
    """What a status webhook reports: a notification's end (or confirmed delivery), a broadcast's fan-out
    done."""

    NOTIFICATION_SENT = "notification.sent"
    NOTIFICATION_DELIVERED = "notification.delivered"
    NOTIFICATION_FAILED = "notification.failed"
    NOTIFICATION_SKIPPED = "notification.skipped"
    NOTIFICATION_CANCELLED = "notification.cancelled"
    NOTIFICATION_EXPIRED = "notification.expired"
    BROADCAST_COMPLETED = "broadcast.completed"


class WebhookEndpoint(models.Model):
    """A caller's URL that receives signed status events (Standard Webhooks)."""

    id = models.BigAutoField(primary_key=True)
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True, default="")
    events = ArrayField(models.CharField(max_length=32, choices=WebhookEventType.choices))
    # The signing secret (`whsec_` + base64 of 32 random bytes), shown once. After a rotation the previous
    # one signs too until previous_secret_expires_at, so receivers can switch without losing events.
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Events per request: 1 sends each alone; more sends a `batch` of up to this many.
    max_events_per_request = models.PositiveSmallIntegerField(default=1)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Since when every request has failed (null while it answers); past WEBHOOK_DISABLE_AFTER_SECONDS the
    # endpoint is disabled.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"webhook {self.id} {self.url}"


class WebhookEventState(models.TextChoices):
    PENDING = "pending"  # due at available_at (or waiting for its disabled endpoint)
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # retried for WEBHOOK_RETRY_WINDOW_SECONDS without success; replayable


class WebhookEvent(models.Model):
    """One event for one endpoint: its own outbox. Written by the database in the same transaction as the
    status change it reports (the triggers of migration 0008), so no status change is reported twice or
    lost; the relay publishes due ones to webhook.queue and a webhook worker sends them."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="webhook_events")
    event_type = models.CharField(max_length=32, choices=WebhookEventType.choices)
    notification_id = models.UUIDField(null=True, blank=True)
    broadcast_id = models.UUIDField(null=True, blank=True)
    # The Standard Webhooks body: {"type", "timestamp", "data"}.
    payload = models.JSONField()
    state = models.CharField(
        max_length=16, choices=WebhookEventState.choices, default=WebhookEventState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())
    # The relay publishes it once this time has come (and pushes it one lease ahead when it does).
    available_at = models.DateTimeField(default=timezone.now, db_default=Now())
    # A worker holds it until then: a second message for it meanwhile does nothing.
    leased_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["available_at"], name="webhook_event_due", condition=models.Q(state="pending")
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_event_endpoint"),
            models.Index(
                fields=["endpoint", "notification_id", "id"],
                name="webhook_event_order",
                condition=models.Q(state="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.id} ({self.state})"


class WebhookAttempt(models.Model):
    """One request that carried an event: what the endpoint answered, how fast, or what went wrong."""

    id = models.BigAutoField(primary_key=True)
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="webhook_attempts")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="webhook_attempts")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    response_body = models.TextField(blank=True, default="")
    succeeded = models.BooleanField(default=False)
    worker = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["endpoint", "-id"], name="webhook_attempt_endpoint")]

    def __str__(self) -> str:
        return f"attempt {self.id} of event {self.event_id}: {self.status_code or self.error[:40]}"
