"""Writes: new template versions and activation. Versions are immutable; every change is a new one."""

from django.db import transaction
from django.db.models import Max

from notifier.api.errors import ApplicationError
from templates_app.languages import language_default, language_is_valid, language_normalize
from templates_app.models import NotificationType, Template, TemplateVersion
from templates_app.rendering import template_variables_extract
from templates_app.selectors import template_cache_invalidate, template_notification_type_infer

# Path segments under /api/v1/templates/ that a code would shadow.
RESERVED_CODES = frozenset({"render"})

# Fields each notification type may use; the others must stay empty.
_ONLY_FOR = {
    "html_body": NotificationType.EMAIL,
    "image_url": NotificationType.PUSH,
    "link": NotificationType.PUSH,
}


def _invalid(errors: dict[str, list[str]]) -> ApplicationError:
    field, messages = next(iter(errors.items()))
    return ApplicationError(f"Invalid input: {field}: {messages[0]}", code="validation_error", data=errors)


def _check_content(
    *, code: str, language: str, notification_type: str, fields: dict[str, str]
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if code in RESERVED_CODES:
        errors["code"] = [f"{code!r} is reserved."]
    if not language_is_valid(language=language):
        errors["language"] = ["Not a language tag like en, fr or pt-BR."]
    if notification_type not in NotificationType.values:
        errors["notification_type"] = [f"One of: {', '.join(NotificationType.values)}."]
        return errors
    for required in ("subject", "body"):
        if not fields[required].strip():
            errors[required] = ["This field is required."]
    if "\r" in fields["subject"] or "\n" in fields["subject"]:
        errors["subject"] = ["A subject is one line."]
    for field, only_for in _ONLY_FOR.items():
        if fields[field] and notification_type != only_for:
            errors[field] = [f"Only {only_for} templates have {field}."]
    return errors


def template_create_or_version(
    *,
    code: str,
    notification_type: str,
    subject: str,
    body: str,
    html_body: str = "",
    image_url: str = "",
    link: str = "",
    description: str | None = None,
    language: str | None = None,
) -> TemplateVersion:
    """Creates the template (code, language, notification_type) if new, else its next version.

    The new version (1, 2, 3...) becomes the active one. Email templates take subject and body and
    optionally html_body; push templates take subject (the title) and body and optionally image_url and
    link; a field of the other type is refused (400). The syntax of every field is checked first
    (TemplateSyntaxError, 400) and the variables are stored as {"required": [...], "optional": [...]}.
    `description`, when given, replaces the template's. Concurrent calls get distinct consecutive
    numbers: the template row is locked for the transaction. Identical content still makes a version.
    """
    language = language_normalize(language=language) if language is not None else language_default()
    fields = {"subject": subject, "body": body, "html_body": html_body, "image_url": image_url, "link": link}
    errors = _check_content(code=code, language=language, notification_type=notification_type, fields=fields)
    if errors:
        raise _invalid(errors)
    variables = template_variables_extract(**fields)

    with transaction.atomic():
        # get_or_create retries the read when a concurrent insert wins the unique constraint; the
        # row lock then serialises version numbering.
        template, created = Template.objects.select_for_update().get_or_create(
            code=code,
            language=language,
            notification_type=notification_type,
            defaults={"description": description or ""},
        )
        latest = template.versions.aggregate(latest=Max("version"))["latest"] or 0
        version = TemplateVersion.objects.create(
            template=template, version=latest + 1, variables=variables, **fields
        )
        template.active_version = version
        update_fields = ["active_version", "updated_at"]
        if description is not None and not created:
            template.description = description
            update_fields.append("description")
        template.save(update_fields=update_fields)
        transaction.on_commit(template_cache_invalidate)
    return version


def template_activate(
    *, code: str, version: int, language: str, notification_type: str | None = None
) -> TemplateVersion:
    """Makes an existing version the active one (e.g. a rollback).

    The language is exact (no fallback). Without `notification_type`, the code must exist for one type
    only in that language (400 otherwise). 404 when the template or the version does not exist.
    """
    language = language_normalize(language=language)
    if notification_type is None:
        notification_type = template_notification_type_infer(code=code, language=language)
    with transaction.atomic():
        template = (
            Template.objects.select_for_update()
            .filter(code=code, language=language, notification_type=notification_type)
            .first()
        )
        if template is None:
            raise ApplicationError(
                f"No template {code!r} ({language}, {notification_type}).",
                code="template_not_found",
                status=404,
            )
        target = template.versions.filter(version=version).first()
        if target is None:
            raise ApplicationError(
                f"Template {code!r} ({language}, {notification_type}) has no version {version}.",
                code="template_not_found",
                status=404,
            )
        template.active_version = target
        template.save(update_fields=["active_version", "updated_at"])
        transaction.on_commit(template_cache_invalidate)
    target.template = template
    return target
