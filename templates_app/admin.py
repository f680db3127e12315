"""Admin: templates with their version history (the active one marked), a new version written here, and
each version with its differences from the one before, a rendered preview and an Activate button.

Versions are immutable, so they are view-only here. New versions and activation go through the same
services as the API (`template_create_or_version`, `template_activate`), and each leaves an admin history
entry naming who did it.
"""

import difflib
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from notifier.api.errors import ApplicationError
from templates_app.models import Template, TemplateVersion
from templates_app.rendering import FIELDS, template_render, template_sample_variables
from templates_app.services import template_activate, template_create_or_version


class TemplateVersionInline(admin.TabularInline):
    model = TemplateVersion
    fields = ("version", "active", "subject", "created_at")
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

    @admin.display(description="active")
    def active(self, version: TemplateVersion) -> SafeString:
        is_active = version.template.active_version_id == version.id
        return (
            format_html('<strong class="active-version">{}</strong>', "active")
            if is_active
            else format_html("{}", "")
        )


def _version_url(version: TemplateVersion) -> str:
    return reverse("admin:templates_app_templateversion_change", args=[version.pk])


class TemplateVersionForm(forms.Form):
    """A new version's content; the fields of the template's channel only (the service checks them)."""

    subject = forms.CharField(widget=forms.TextInput(attrs={"size": 80}))
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "cols": 80}))
    html_body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 8, "cols": 80}))
    image_url = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 80}))
    link = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 80}))
    description = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 80}))

    def __init__(self, *args: Any, notification_type: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        unused = ("image_url", "link") if notification_type == "email" else ("html_body",)
        for name in unused:
            del self.fields[name]


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

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<path:object_id>/new-version/",
                self.admin_site.admin_view(self.new_version_view),
                name="templates_app_template_new_version",
            )
        ]
        return own + super().get_urls()

    def new_version_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Writes the template's next version (it becomes the active one), starting from the active one."""
        template = self.get_object(request, object_id)
        if template is None:
            raise Http404
        if not self.has_change_permission(request, template):
            raise PermissionDenied
        active = template.active_version
        initial = {field: getattr(active, field) for field in FIELDS} if active else {}
        form = TemplateVersionForm(
            request.POST or None,
            initial={**initial, "description": template.description},
            notification_type=template.notification_type,
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                version = template_create_or_version(
                    code=template.code,
                    language=template.language,
                    notification_type=template.notification_type,
                    subject=data["subject"],
                    body=data["body"],
                    html_body=data.get("html_body", ""),
                    image_url=data.get("image_url", ""),
                    link=data.get("link", ""),
                    description=data["description"],
                )
            except ApplicationError as exc:
                for field, errors in (exc.data or {"__all__": [exc.message]}).items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                self.log_addition(request, version, f"Version {version.version} written; it is now active.")
                self.log_change(request, template, f"Version {version.version} written and activated.")
                self.message_user(request, f"{version} written; it is now active.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:templates_app_templateversion_change", args=[version.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"New version of {template}",
            "opts": self.opts,
            "original": template,
            "form": form,
            "active": active,
        }
        return TemplateResponse(request, "admin/templates_app/template/new_version.html", context)

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
    fields = ("template", "version", "is_active", *FIELDS, "variables", "created_at", "changes", "preview")
    readonly_fields = fields
    actions = ["activate"]

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<path:object_id>/activate/",
                self.admin_site.admin_view(require_POST(self.activate_view)),
                name="templates_app_templateversion_activate",
            )
        ]
        return own + super().get_urls()

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        context["can_activate"] = request.user.has_perm("templates_app.change_template")
        return super().render_change_form(request, context, *args, **kwargs)

    def activate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm("templates_app.change_template"):
            raise PermissionDenied
        version = TemplateVersion.objects.select_related("template").filter(pk=object_id).first()
        if version is None:
            raise Http404
        self._activate(request, version)
        return HttpResponseRedirect(_version_url(version))

    def _activate(self, request: HttpRequest, version: TemplateVersion) -> None:
        template_activate(
            code=version.template.code,
            version=version.version,
            language=version.template.language,
            notification_type=version.template.notification_type,
        )
        self.log_change(request, version.template, f"Version {version.version} activated.")
        self.message_user(request, f"{version} is now active.", messages.SUCCESS)

    @admin.display(description="changes from the version before")
    def changes(self, version: TemplateVersion) -> SafeString:
        """Each field that differs from the previous version, side by side (difflib's HTML table)."""
        previous = TemplateVersion.objects.filter(
            template=version.template, version=version.version - 1
        ).first()
        if previous is None:
            return format_html("<p>{}</p>", "The first version.")
        tables = [
            format_html(
                "<h4>{}</h4>{}",
                field,
                SafeString(
                    difflib.HtmlDiff(wrapcolumn=60).make_table(
                        getattr(previous, field).splitlines(),
                        getattr(version, field).splitlines(),
                        f"version {previous.version}",
                        f"version {version.version}",
                    )
                ),
            )
            for field in FIELDS
            if getattr(previous, field) != getattr(version, field)
        ]
        if not tables:
            return format_html("<p>{}</p>", f"Identical to version {previous.version}.")
        return format_html(
            '<div class="template-diff">{}</div>', format_html_join("", "{}", ((t,) for t in tables))
        )

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
        self._activate(request, queryset.select_related("template").get())

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # The action is a write: keep it for users who may change templates.
        actions = super().get_actions(request)
        if not request.user.has_perm("templates_app.change_template"):
            actions.pop("activate", None)
        return actions
