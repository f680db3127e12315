"""Routes of the notifications app, mounted at /api/v1/."""

from django.urls import path

from notifications import apis, topic_apis, web_push_apis, webhook_apis

urlpatterns = [
    path("notifications/", apis.NotificationListCreateApi.as_view(), name="notification-list"),
    path("notifications/batch", apis.NotificationBatchApi.as_view(), name="notification-batch"),
    path(
        "notifications/<str:notification_id>",
        apis.NotificationDetailApi.as_view(),
        name="notification-detail",
    ),
    path(
        "notifications/<str:notification_id>/cancel",
        apis.NotificationCancelApi.as_view(),
        name="notification-cancel",
    ),
    path("broadcasts/", apis.BroadcastListApi.as_view(), name="broadcast-list"),
    path("broadcasts/<str:broadcast_id>", apis.BroadcastDetailApi.as_view(), name="broadcast-detail"),
    path("broadcasts/<str:broadcast_id>/cancel", apis.BroadcastCancelApi.as_view(), name="broadcast-cancel"),
    path("topics/", topic_apis.TopicListCreateApi.as_view(), name="topic-list"),
    path("topics/<slug:key>", topic_apis.TopicDetailApi.as_view(), name="topic-detail"),
    path("topics/<slug:key>/subscribers", topic_apis.TopicSubscribersApi.as_view(), name="topic-subscribers"),
    path("webhooks/", webhook_apis.WebhookListCreateApi.as_view(), name="webhook-list"),
    path("webhooks/<str:endpoint_id>", webhook_apis.WebhookDetailApi.as_view(), name="webhook-detail"),
    path(
        "webhooks/<str:endpoint_id>/rotate-secret",
        webhook_apis.WebhookRotateSecretApi.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        "webhooks/<str:endpoint_id>/events", webhook_apis.WebhookEventListApi.as_view(), name="webhook-events"
    ),
    path("web-push/vapid-public-key", web_push_apis.VapidPublicKeyApi.as_view(), name="web-push-vapid-key"),
    path("email/status/", apis.EmailStatusApi.as_view(), name="email-status"),
    path("push/status/", apis.PushStatusApi.as_view(), name="push-status"),
]
