"""Routes of the notifications app, mounted at /api/v1/."""

from django.urls import path

from notifications import apis

urlpatterns = [
    path("notifications/", apis.NotificationListCreateApi.as_view(), name="notification-list"),
    path("notifications/batch", apis.NotificationBatchApi.as_view(), name="notification-batch"),
    path(
        "notifications/<str:notification_id>",
        apis.NotificationDetailApi.as_view(),
        name="notification-detail",
    ),
    path("email/status/", apis.EmailStatusApi.as_view(), name="email-status"),
    path("push/status/", apis.PushStatusApi.as_view(), name="push-status"),
]
