from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications import anymail_tracking, checks  # noqa: F401 - checks registers the system checks
        from notifications.providers import registry  # noqa: F401 - follows changes of provider settings

        anymail_tracking.connect()
