"""Routes of the notifications app, mounted at /api/v1/."""

from django.urls import path

from notifications import apis, topic_apis

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
    path("email/status/", apis.EmailStatusApi.as_view(), name="email-status"),
    path("push/status/", apis.PushStatusApi.as_view(), name="push-status"),
]
