"""Operations in the admin: follow a notification's timeline, retry failed ones, and the operations page
(queue and dead-letter queue depths, outbox backlog, circuit breakers, dead letters to replay); topics,
their subscribers, and the progress of broadcasts; status webhook endpoints, their events and attempts."""

import uuid
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST
from import_export import fields, resources
from import_export.admin import ExportMixin
from rangefilter.filters import DateTimeRangeFilterBuilder

from notifications.admin_charts import outcome_bars, sparkline
from notifications.broker.connection import BROKER_ERRORS
from notifications.channels import CHANNELS
from notifications.management.durations import duration_parse
from notifications.models import (
    Broadcast,
    DeliveryAttempt,
    Notification,
    NotificationStatus,
    OutboxEntry,
    Topic,
    TopicSubscription,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventState,
)
from notifications.selectors import (
    api_key_names,
    breaker_states,
    broadcast_status_counts,
    broker_queue_depths,
    delivery_providers_seen,
    fan_out_backlog_get,
    notification_timeline,
    notifications_with_last_provider,
    outbox_backlog_get,
    outbox_waiting_get,
)
from notifications.services.cancel import broadcast_cancel, notification_cancel
from notifications.services.dlq import dlq_list, dlq_purge, dlq_replay, notifications_retry_failed
from notifications.services.trends import outcomes_per_minute, queue_depth_trend, queue_depths_sample_record
from notifications.webhooks.delivery import webhook_events_replay
from notifications.webhooks.endpoints import webhook_endpoint_update
from notifier.api.errors import ApplicationError
from users.models import User

# The operations page lists at most this many dead letters (reading one is a broker round trip).
DEAD_LETTERS_SHOWN = 100
# The operations page reloads itself this often (`?refresh=0` stops it).
OPERATIONS_REFRESH_SECONDS = 10


def operation_history_record(request: HttpRequest, message: str) -> None:
    """An admin history entry (shown under Recent actions) for an operation on the queues rather than on
    a row: who did it and what."""
    assert isinstance(request.user, User)  # admin views run for a logged-in staff user only
    LogEntry.objects.create(
        user=request.user,
        content_type=ContentType.objects.get_for_model(Notification),
        object_id=None,
        object_repr="dead-letter queues",
        action_flag=CHANGE,
        change_message=message,
    )


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "number",
        "outcome",
        "worker",
        "provider",
        "error_class",
        "error_message",
        "provider_message_id",
        "started_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


_SUMMARY_FIELDS = ["id", "status", "notification_type", "user", "template_code", "correlation_id", "error"]
_TIME_FIELDS = [
    "created_at", "send_at", "expires_at", "queued_at", "sent_at", "delivered_at", "failed_at",
    "cancelled_at", "updated_at",
]  # fmt: skip


class ProviderFilter(admin.SimpleListFilter):
    """Notifications that a provider was tried for (any attempt)."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in delivery_providers_seen()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Notification]) -> QuerySet[Notification]:
        if not self.value():
            return queryset
        return queryset.filter(
            Exists(DeliveryAttempt.objects.filter(notification=OuterRef("pk"), provider=self.value()))
        )


class CallerFilter(admin.SimpleListFilter):
    """Who sent it: an API key (by name) or any user's token."""

    title = "caller"
    parameter_name = "caller"
    USERS = "user:"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        keys = [(f"key:{prefix}", f"API key {name}") for prefix, name in api_key_names()]
        return [*keys, (self.USERS, "users (JWT)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Notification]) -> QuerySet[Notification]:
        value = self.value()
        if not value:
            return queryset
        return (
            queryset.filter(caller__startswith=value)
            if value == self.USERS
            else queryset.filter(caller=value)
        )


class NotificationResource(resources.ModelResource):
    """The CSV export of the filtered list: what an operator looks at, never a variable or an address."""

    user_id = fields.Field(attribute="user_id", column_name="user_id")
    last_provider = fields.Field(attribute="last_provider", column_name="provider")

    class Meta:
        model = Notification
        fields = (
            "id", "request_id", "caller", "notification_type", "lane", "status", "user_id", "template_code",
            "attempts", "last_provider", "error", "correlation_id", "created_at", "sent_at", "failed_at",
        )  # fmt: skip
        export_order = fields


@admin.register(Notification)
class NotificationAdmin(ExportMixin, admin.ModelAdmin):
    # Every column in view at 1,400 px: the id shortened (the whole one is its title and its page's).
    list_display = [
        "short_id", "channel", "lane", "status_badge", "template", "caller", "last_provider", "attempts",
        "error_reason", "created_at",
    ]  # fmt: skip
    list_display_links = ["short_id"]
    list_filter = [
        "status",
        ("notification_type", admin.ChoicesFieldListFilter),
        "lane",
        ProviderFilter,
        CallerFilter,
        ("created_at", DateTimeRangeFilterBuilder(title="created between")),
    ]
    search_fields = ["id", "request_id", "correlation_id", "template_code", "user__email"]
    list_select_related = ["user"]
    resource_classes = [NotificationResource]
    # The list: import-export's (its Export button) with the link to the operations page and the badges.
    import_export_change_list_template = "admin/notifications/notification/change_list.html"
    inlines = [DeliveryAttemptInline]
    actions = ["retry_notifications", "cancel_notifications"]
    readonly_fields = [*(f.name for f in Notification._meta.fields), "timeline"]
    fieldsets = [
        (None, {"fields": tuple(_SUMMARY_FIELDS)}),
        ("Timeline", {"fields": ["timeline"]}),
        ("Times", {"fields": tuple(_TIME_FIELDS)}),
        (
            "Request and delivery",
            {
                "fields": tuple(
                    f.name
                    for f in Notification._meta.fields
                    if f.name not in {*_SUMMARY_FIELDS, *_TIME_FIELDS}
                )
            },
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        return notifications_with_last_provider(super().get_queryset(request))

    def get_export_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        return notifications_with_last_provider(super().get_export_queryset(request))

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Notification) -> SafeString:
        return format_html('<span class="badge status-{}">{}</span>', obj.status, obj.status)

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: Notification) -> SafeString:
        return format_html('<span title="{}">{}…</span>', obj.id, str(obj.id)[:8])

    @admin.display(description="channel", ordering="notification_type")
    def channel(self, obj: Notification) -> str:
        return obj.notification_type

    @admin.display(description="template", ordering="template_code")
    def template(self, obj: Notification) -> str:
        return obj.template_code

    @admin.display(description="provider")
    def last_provider(self, obj: Notification) -> str:
        return getattr(obj, "last_provider", "") or ""

    @admin.display(description="error", ordering="error")
    def error_reason(self, obj: Notification) -> SafeString:
        if not obj.error:
            return format_html("{}", "")
        short = obj.error if len(obj.error) <= 60 else obj.error[:59] + "…"
        return format_html('<span class="error-reason" title="{}">{}</span>', obj.error, short)

    @admin.action(description="Retry the selected failed notifications")
    def retry_notifications(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        selected = list(queryset)
        failed = [n for n in selected if n.status == NotificationStatus.FAILED]
        requeued, letters_removed = notifications_retry_failed(notifications=failed)
        for notification in failed:
            self.log_change(request, notification, "Retried: requeued with a fresh retry budget.")
        self.message_user(
            request,
            f"{requeued} failed notification(s) requeued ({letters_removed} dead letter(s) taken out of "
            f"the dead-letter queues); {len(selected) - requeued} not failed, left alone.",
            messages.SUCCESS,
        )

    @admin.action(description="Cancel the selected notifications that no provider has yet")
    def cancel_notifications(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        selected = list(queryset.only("id"))
        cancelled = 0
        for notification in selected:
            try:
                notification_cancel(notification_id=notification.id, by=f"user:{request.user.pk}")
            except ApplicationError:
                continue
            cancelled += 1
            self.log_change(request, notification, "Cancelled.")
        self.message_user(
            request,
            f"{cancelled} notification(s) cancelled; {len(selected) - cancelled} past cancelling, "
            "left alone.",
            messages.SUCCESS,
        )

    @admin.display(description="Timeline")
    def timeline(self, obj: Notification) -> SafeString:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (e.at.isoformat(timespec="milliseconds"), e.event, e.outcome, e.detail, e.worker)
                for e in notification_timeline(notification=obj)
            ),
        )
        return format_html(
            '<table class="notification-timeline"><thead><tr><th>Time</th><th>Event</th><th>Outcome</th>'
            "<th>Error or detail</th><th>Worker</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    # The operations page: /admin/notifications/notification/operations/

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        own = [
            path(
                "operations/",
                self.admin_site.admin_view(self.operations_view),
                name="{}_{}_operations".format(*info),
            ),
            path(
                "operations/replay/",
                self.admin_site.admin_view(require_POST(self.replay_view)),
                name="{}_{}_replay".format(*info),
            ),
            path(
                "operations/purge/",
                self.admin_site.admin_view(require_POST(self.purge_view)),
                name="{}_{}_purge".format(*info),
            ),
        ]
        return own + super().get_urls()  # before the catch-all "<path:object_id>/"

    def operations_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        broker_error = ""
        try:
            depths = broker_queue_depths(timeout=settings.METRICS_BROKER_TIMEOUT_SECONDS)
            dead_letters = dlq_list(limit=DEAD_LETTERS_SHOWN)
        except BROKER_ERRORS as exc:
            depths, dead_letters = [], []
            broker_error = f"{exc.__class__.__name__}: {exc}"
        if depths:
            queue_depths_sample_record(depths=depths)
        samples = queue_depth_trend()
        trends = {
            depth.queue: sparkline(
                [sample.depths.get(depth.queue, 0) for sample in samples], label=depth.queue
            )
            for depth in depths
        }
        refresh = request.GET.get("refresh", str(OPERATIONS_REFRESH_SECONDS))
        context = {
            **self.admin_site.each_context(request),
            "title": "Operations",
            "opts": self.opts,
            "queues": [depth for depth in depths if not depth.dead_letter],
            "dead_letter_queues": [depth for depth in depths if depth.dead_letter],
            "broker_error": broker_error,
            "outbox_backlog": outbox_backlog_get(),
            "outbox_waiting": outbox_waiting_get(),
            "fan_out": fan_out_backlog_get(),
            "breakers": breaker_states(),
            "dead_letters": dead_letters,
            "dead_letters_shown": DEAD_LETTERS_SHOWN,
            "can_replay": self.has_change_permission(request),
            "can_purge": self.has_delete_permission(request),
            "trends": trends,
            "samples": len(samples),
            "outcomes_chart": outcome_bars(
                outcomes_per_minute(), label="attempts sent and failed per minute, last hour"
            ),
            "refresh_seconds": int(refresh) if refresh.isdigit() else OPERATIONS_REFRESH_SECONDS,
            "channels": [channel.value for channel in CHANNELS],
        }
        return TemplateResponse(request, "admin/notifications/operations.html", context)

    def _confirm(
        self, request: HttpRequest, *, title: str, question: str, action: str, fields: dict
    ) -> HttpResponse:
        """A confirmation page: the same POST again with `confirmed`, or back to the operations page."""
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "question": question,
            "action": action,
            "fields": fields,
        }
        return TemplateResponse(request, "admin/notifications/operations_confirm.html", context)

    def purge_view(self, request: HttpRequest) -> HttpResponse:
        """Drops dead letters, as `manage.py dlq purge` does: a queue, an age, a dry run that counts them on
        a confirmation page, then the purge; an admin history entry names who purged what."""
        if not self.has_delete_permission(request):
            raise PermissionDenied
        operations_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_operations")
        queue = request.POST.get("queue") or None
        older_than_text = request.POST.get("older_than", "").strip()
        try:
            if queue is not None and queue not in CHANNELS:
                raise CommandError(f"No dead-letter queue {queue!r}.")
            older_than = duration_parse(older_than_text, option="older than") if older_than_text else None
        except CommandError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(operations_url)
        where = f"{queue}.dlq" if queue else "every dead-letter queue"
        age = f" that died more than {older_than_text} ago" if older_than_text else ""
        try:
            if request.POST.get("confirmed") != "yes":
                count = dlq_purge(channel=queue, older_than=older_than, dry_run=True)
                return self._confirm(
                    request,
                    title="Purge dead letters",
                    question=f"Purge {count} dead letter(s) from {where}{age}? They are dropped for good.",
                    action=reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_purge"),
                    fields={"queue": queue or "", "older_than": older_than_text},
                )
            count = dlq_purge(channel=queue, older_than=older_than)
        except BROKER_ERRORS as exc:
            self.message_user(request, f"The broker is unavailable: {exc}", messages.ERROR)
            return HttpResponseRedirect(operations_url)
        operation_history_record(request, f"Purged {count} dead letter(s) from {where}{age}.")
        self.message_user(request, f"{count} dead letter(s) purged from {where}.", messages.SUCCESS)
        return HttpResponseRedirect(operations_url)

    def replay_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        operations_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_operations")
        raw_id = request.POST.get("notification_id", "")
        notification_ids: set[str] | None = None
        if raw_id:
            try:
                notification_ids = {str(uuid.UUID(raw_id))}
            except ValueError:
                self.message_user(request, "Not a notification id.", messages.ERROR)
                return HttpResponseRedirect(operations_url)
        if notification_ids is None and request.POST.get("confirmed") != "yes":
            try:
                waiting = sum(
                    d.messages
                    for d in broker_queue_depths(timeout=settings.METRICS_BROKER_TIMEOUT_SECONDS)
                    if d.dead_letter
                )
            except BROKER_ERRORS as exc:
                self.message_user(request, f"The broker is unavailable: {exc}", messages.ERROR)
                return HttpResponseRedirect(operations_url)
            return self._confirm(
                request,
                title="Replay all dead letters",
                question=(
                    f"Replay all {waiting} dead letter(s)? Each notification not yet sent goes out again "
                    "with a fresh retry budget; those already sent are dropped."
                ),
                action=reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_replay"),
                fields={},
            )
        try:
            report = dlq_replay(notification_ids=notification_ids)
        except BROKER_ERRORS as exc:
            self.message_user(request, f"The broker is unavailable: {exc}", messages.ERROR)
            return HttpResponseRedirect(operations_url)
        for notification in Notification.objects.filter(pk__in=report.replayed):
            self.log_change(request, notification, "Replayed from the dead-letter queue.")
        if notification_ids and not (report.replayed or report.skipped):
            self.message_user(request, f"{raw_id} is no longer in a dead-letter queue.", messages.WARNING)
        else:
            self.message_user(
                request,
                f"{len(report.replayed)} dead letter(s) replayed; "
                f"{len(report.skipped)} dropped (their notification was already sent, or is gone).",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(operations_url)


@admin.register(OutboxEntry)
class OutboxEntryAdmin(admin.ModelAdmin):
    list_display = ["notification", "created_at", "publish_attempts", "last_error"]
    readonly_fields = ["notification", "created_at", "publish_attempts", "last_error"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "subscriber_count", "created_at"]
    search_fields = ["key", "name"]
    readonly_fields = ["subscriber_count", "created_at", "updated_at"]
    fields = ["key", "name", "description", "subscriber_count", "created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Topic]:
        return super().get_queryset(request).annotate(subscribers=Count("subscriptions"))

    @admin.display(description="Subscribers", ordering="subscribers")
    def subscriber_count(self, obj: Topic) -> SafeString:
        url = reverse("admin:notifications_topicsubscription_changelist") + f"?topic__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, getattr(obj, "subscribers", 0))


@admin.register(TopicSubscription)
class TopicSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["topic", "user", "created_at"]
    list_filter = ["topic"]
    search_fields = ["user__email", "topic__key"]
    list_select_related = ["topic", "user"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at"]


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    """Read-only: a broadcast is made by a send, and its progress is the fan-out's."""

    list_display = [
        "id", "topic_key", "notification_type", "template_code", "status", "recipients",
        "notifications_created", "created_at", "completed_at",
    ]  # fmt: skip
    list_filter = ["status", "notification_type", "created_at"]
    search_fields = ["id", "request_id", "topic_key", "template_code", "correlation_id"]
    date_hierarchy = "created_at"
    exclude = ["user_ids"]
    readonly_fields = [
        *(f.name for f in Broadcast._meta.fields if f.name != "user_ids"),
        "list_recipients",
        "progress",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    actions = ["cancel_broadcasts"]

    @admin.action(description="Cancel the selected broadcasts (their notifications no provider has yet)")
    def cancel_broadcasts(self, request: HttpRequest, queryset: QuerySet[Broadcast]) -> None:
        total = 0
        for broadcast in queryset.only("id"):
            try:
                result = broadcast_cancel(broadcast_id=broadcast.id, by=f"user:{request.user.pk}")
            except ApplicationError:
                continue
            total += result.cancelled
            self.log_change(request, broadcast, f"Cancelled: {result.cancelled} notification(s).")
        self.message_user(request, f"{total} notification(s) cancelled.", messages.SUCCESS)

    @admin.display(description="Listed recipients")
    def list_recipients(self, obj: Broadcast) -> int | None:
        return len(obj.user_ids) if obj.user_ids is not None else None

    @admin.display(description="Notifications by status")
    def progress(self, obj: Broadcast) -> SafeString:
        counts = broadcast_status_counts(broadcast=obj)
        url = reverse("admin:notifications_notification_changelist") + f"?broadcast__id__exact={obj.pk}"
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", sorted(counts.items()))
        return format_html(
            '<table class="broadcast-progress"><tbody>{}</tbody></table><a href="{}">Its notifications</a>',
            rows,
            url,
        )


# --- status webhooks ----------------------------------------------------------------------------------


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fk_name = "event"
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "status_code", "latency_ms", "succeeded", "error", "worker")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Endpoints are registered through the API (the secret is shown to the caller once); here an operator
    sees their health, and disables, enables or replays them."""

    list_display = [
        "id", "url", "is_active", "health", "events_list", "max_events_per_request", "failing_since",
        "created_by", "created_at",
    ]  # fmt: skip
    list_filter = ["is_active"]
    search_fields = ["url", "description", "created_by"]
    fields = readonly_fields = (
        "url", "description", "events", "max_events_per_request", "is_active", "disabled_reason",
        "disabled_at", "failing_since", "created_by", "created_at", "updated_at", "recent_attempts",
    )  # fmt: skip
    actions = ["disable_endpoints", "enable_endpoints", "replay_failed_events"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Events")
    def events_list(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.events)

    @admin.display(description="Health")
    def health(self, obj: WebhookEndpoint) -> str:
        if not obj.is_active:
            return f"disabled: {obj.disabled_reason}"
        return f"failing since {obj.failing_since:%Y-%m-%d %H:%M:%S}" if obj.failing_since else "ok"

    @admin.display(description="Recent attempts")
    def recent_attempts(self, obj: WebhookEndpoint) -> SafeString:
        attempts = WebhookAttempt.objects.filter(endpoint=obj).order_by("-id")[:20]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (a.created_at.strftime("%Y-%m-%d %H:%M:%S"), a.event_id, a.status_code or "-",
                 f"{a.latency_ms} ms" if a.latency_ms is not None else "-", a.error or "ok")
                for a in attempts
            ),
        )  # fmt: skip
        header = "<tr><th>at</th><th>event</th><th>status</th><th>latency</th><th>error</th></tr>"
        return format_html("<table>{}{}</table>", SafeString(header), rows)

    @admin.action(description="Disable the selected endpoints (their events wait)")
    def disable_endpoints(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            webhook_endpoint_update(endpoint=endpoint, changes={"is_active": False})
            self.log_change(request, endpoint, "Disabled.")
        self.message_user(request, f"{queryset.count()} endpoint(s) disabled.", messages.SUCCESS)

    @admin.action(description="Enable the selected endpoints (what waited is sent)")
    def enable_endpoints(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            webhook_endpoint_update(endpoint=endpoint, changes={"is_active": True})
            self.log_change(request, endpoint, "Enabled.")
        self.message_user(request, f"{queryset.count()} endpoint(s) enabled.", messages.SUCCESS)

    @admin.action(description="Replay the selected endpoints' failed events")
    def replay_failed_events(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        replayed = 0
        for endpoint in queryset:
            count = webhook_events_replay(endpoint_id=endpoint.id)
            replayed += count
            self.log_change(request, endpoint, f"Replayed {count} failed event(s).")
        self.message_user(request, f"{replayed} failed event(s) will be sent again.", messages.SUCCESS)


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = [
        "id", "event_type", "endpoint", "state", "attempts", "last_error", "notification_id", "created_at",
        "delivered_at",
    ]  # fmt: skip
    list_filter = ["state", "event_type", "endpoint"]
    search_fields = ["=notification_id", "=broadcast_id", "last_error"]
    list_select_related = ["endpoint"]
    fields = readonly_fields = (
        "endpoint", "event_type", "state", "attempts", "last_error", "notification_id", "broadcast_id",
        "payload", "created_at", "available_at", "delivered_at",
    )  # fmt: skip
    inlines = [WebhookAttemptInline]
    actions = ["replay_events"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Replay the selected events (failed or delivered: sent again)")
    def replay_events(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        selected = list(queryset.values_list("id", flat=True))
        count = webhook_events_replay(
            event_ids=selected, states=(WebhookEventState.FAILED, WebhookEventState.DELIVERED)
        )
        for event in queryset:
            self.log_change(request, event, "Replayed.")
        self.message_user(request, f"{count} event(s) will be sent again.", messages.SUCCESS)
