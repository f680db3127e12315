import django_filters
from django import forms

from notifications.models import Notification, NotificationStatus
from templates_app.models import NotificationType


class StrictFilterForm(forms.Form):
    """A filter given with an empty value (`?user_id=`) is a 400, not silently no filter."""

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        for name in self.fields:
            if name in self.data and not str(self.data.get(name) or "").strip():
                self.add_error(name, "Give a value, or leave the filter out.")
        return cleaned


class NotificationFilter(django_filters.FilterSet):
    user_id = django_filters.UUIDFilter(field_name="user_id")
    status = django_filters.ChoiceFilter(choices=NotificationStatus.choices)
    notification_type = django_filters.ChoiceFilter(choices=NotificationType.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Notification
        form = StrictFilterForm
        fields = ["user_id", "status", "notification_type", "created_after", "created_before"]
