import django_filters

from notifications.models import Notification, NotificationStatus
from templates_app.models import NotificationType


class NotificationFilter(django_filters.FilterSet):
    user_id = django_filters.UUIDFilter(field_name="user_id")
    status = django_filters.ChoiceFilter(choices=NotificationStatus.choices)
    notification_type = django_filters.ChoiceFilter(choices=NotificationType.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Notification
        fields = ["user_id", "status", "notification_type", "created_after", "created_before"]
