"""Templates and their immutable versions, rendered with Mustache."""

from django.db import models

from notifications.channels import Channel


class NotificationType(models.TextChoices):
    """The channels (notifications.channels.Channel), as model choices."""

    EMAIL = Channel.EMAIL.value
    PUSH = Channel.PUSH.value


class Template(models.Model):
    """One template per (code, language, notification_type); its content lives in versions."""

    id = models.BigAutoField(primary_key=True)
    code = models.SlugField(max_length=100)
    language = models.CharField(max_length=16)
    notification_type = models.CharField(max_length=16, choices=NotificationType.choices)
    description = models.CharField(max_length=500, blank=True, default="")
    active_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code", "language", "notification_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "language", "notification_type"], name="templates_template_identity_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} [{self.notification_type}, {self.language}]"


class TemplateVersion(models.Model):
    """Never updated once written: every change to a template is a new version."""

    id = models.BigAutoField(primary_key=True)
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    subject = models.CharField(max_length=998)
    body = models.TextField()
    html_body = models.TextField(blank=True, default="")
    image_url = models.URLField(max_length=2048, blank=True, default="")
    link = models.URLField(max_length=2048, blank=True, default="")
    # Names the version needs (required) and may use (optional), extracted from the Mustache source.
    variables = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["template", "version"], name="templates_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.template} v{self.version}"
