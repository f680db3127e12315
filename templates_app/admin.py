"""Admin: templates with their version history, and each version with a rendered preview.

Versions are immutable, so they are view-only here; new versions come from the API (the service).
Activating a version from the admin goes through `template_activate`.
"""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from notifier.api.errors import ApplicationError
from templates_app.models import Template, TemplateVersion
from templates_app.rendering import FIELDS, template_render, template_sample_variables
from templates_app.services import template_activate


class TemplateVersionInline(admin.TabularInline):
    model = TemplateVersion
    fields = ("version", "subject", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-version",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ("code", "language", "notification_type", "active_version_number", "updated_at")
    list_filter = ("notification_type", "language")
    search_fields = ("code", "description")
    fields = ("code", "language", "notification_type", "description", "active_version", "created_at")
    readonly_fields = ("code", "language", "notification_type", "active_version", "created_at")
    inlines = [TemplateVersionInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a template is born with its first version: POST /api/v1/templates/

    @admin.display(description="active version")
    def active_version_number(self, template: Template) -> int | None:
        return template.active_version.version if template.active_version else None

    def get_queryset(self, request: HttpRequest) -> QuerySet[Template]:
        return super().get_queryset(request).select_related("active_version")


@admin.register(TemplateVersion)
class TemplateVersionAdmin(admin.ModelAdmin):
    list_display = ("template", "version", "subject", "is_active", "created_at")
    list_filter = ("template__notification_type", "template__language")
    search_fields = ("template__code", "subject")
    list_select_related = ("template",)
    fields = ("template", "version", *FIELDS, "variables", "created_at", "preview")
    readonly_fields = fields
    actions = ["activate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(boolean=True, description="active")
    def is_active(self, version: TemplateVersion) -> bool:
        return version.template.active_version_id == version.id

    @admin.display(description="preview with sample variables")
    def preview(self, version: TemplateVersion) -> SafeString:
        """Renders the version with "[name]" for each required variable; the HTML is shown as source."""
        sources = {field: getattr(version, field) for field in FIELDS}
        sample = template_sample_variables(sources=sources)
        try:
            rendered = template_render(version=version, variables=sample)
        except ApplicationError as exc:
            return format_html('<p class="errornote">{}</p>', exc.message)
        rows = format_html_join(
            "",
            "<dt><strong>{}</strong></dt><dd><pre>{}</pre></dd>",
            ((field, getattr(rendered, field)) for field in FIELDS if getattr(rendered, field)),
        )
        return format_html("<p>Sample variables: <code>{}</code></p><dl>{}</dl>", sample, rows)

    @admin.action(description="Activate the selected version")
    def activate(self, request: HttpRequest, queryset: QuerySet[TemplateVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        version = queryset.select_related("template").get()
        template_activate(
            code=version.template.code,
            version=version.version,
            language=version.template.language,
            notification_type=version.template.notification_type,
        )
        self.message_user(request, f"{version} is now active.", messages.SUCCESS)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # The action is a write: keep it for users who may change templates.
        actions = super().get_actions(request)
        if not request.user.has_perm("templates_app.change_template"):
            actions.pop("activate", None)
        return actions
