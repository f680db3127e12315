from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications import webhooks
        from notifications.providers import registry  # noqa: F401 - follows changes of provider settings

        webhooks.connect()
