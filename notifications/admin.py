"""Operations in the admin: follow a notification's attempts, retry failed ones."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from notifications.models import DeliveryAttempt, Notification, NotificationStatus, OutboxEntry
from notifications.services.dlq import notification_requeue


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "number",
        "outcome",
        "worker",
        "error_class",
        "error_message",
        "provider_message_id",
        "started_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "notification_type", "status", "user", "template_code", "attempts", "created_at"]
    list_filter = ["status", "notification_type", "created_at"]
    search_fields = ["id", "request_id", "correlation_id", "template_code", "user__email"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    inlines = [DeliveryAttemptInline]
    actions = ["retry_notifications"]
    readonly_fields = [f.name for f in Notification._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Retry the selected failed notifications")
    def retry_notifications(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        failed = list(queryset.filter(status=NotificationStatus.FAILED))
        queued = sum(1 for notification in failed if notification_requeue(notification=notification))
        self.message_user(
            request,
            f"{len(failed)} failed notification(s) requeued ({queued} published now, the rest by the relay); "
            f"{queryset.count() - len(failed)} not failed, left alone.",
            messages.SUCCESS,
        )


@admin.register(OutboxEntry)
class OutboxEntryAdmin(admin.ModelAdmin):
    list_display = ["notification", "created_at", "publish_attempts", "last_error"]
    readonly_fields = ["notification", "created_at", "publish_attempts", "last_error"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
