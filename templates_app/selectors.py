"""Reads of templates and versions. `template_version_resolve` is on the notification accept path and on
every delivery, so its answers are cached in each process, keyed by a generation token in Redis that
every template write replaces (versions are immutable; only which one is active changes)."""

import uuid

from django.core.cache import cache
from django.db.models import Count, QuerySet

from notifier.api.errors import ApplicationError
from notifier.cache import CACHE_ERRORS
from templates_app.languages import language_fallback_chain, language_normalize
from templates_app.models import Template, TemplateVersion


def _not_found(code: str) -> ApplicationError:
    return ApplicationError(f"No template {code!r} matches.", code="template_not_found", status=404)


# The cache key of the generation token, for a caller that reads it with other keys in one round trip.
TEMPLATE_GENERATION_KEY = "templates:generation"
_RESOLVED_MAX = 2048
_resolved: dict[tuple[str, str, str, str | None, int | None], TemplateVersion] = {}


def _generation(token: str | None = None) -> str | None:
    """The current generation token (`token`: as the caller just read it); None when Redis cannot say
    (then nothing is cached)."""
    try:
        if token is None:
            token = cache.get(TEMPLATE_GENERATION_KEY)
        if token is None:
            cache.add(TEMPLATE_GENERATION_KEY, uuid.uuid4().hex, timeout=None)
            token = cache.get(TEMPLATE_GENERATION_KEY)
    except CACHE_ERRORS:
        return None
    return token


def template_generation_get() -> str | None:
    """The templates' generation token, for a caller that resolves many templates at once: read once and
    passed to each `template_version_resolve(generation=...)`, it saves a Redis round trip each."""
    return _generation()


def template_cache_invalidate() -> None:
    """Called after every committed template write. A random token (not a counter) stays unique even
    after Redis loses its data, so a process can never mistake an old entry for a current one."""
    try:
        cache.set(TEMPLATE_GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    except CACHE_ERRORS:
        # Every process keeps serving its cached answers until Redis is back: say so loudly.
        import logging

        logging.getLogger(__name__).error("template cache could not be invalidated; Redis is unavailable")


def template_version_resolve(
    *,
    code: str,
    notification_type: str,
    language: str | None = None,
    version: int | None = None,
    generation: str | None = None,
) -> TemplateVersion:
    """`_template_version_resolve`, answered from this process's cache while no template changed.
    `generation`: the token under TEMPLATE_GENERATION_KEY as the caller just read it, saving this read."""
    generation = _generation(generation)
    if generation is None:
        return _template_version_resolve(
            code=code, notification_type=notification_type, language=language, version=version
        )
    key = (generation, code, notification_type, language, version)
    cached = _resolved.get(key)
    if cached is not None:
        return cached
    resolved = _template_version_resolve(
        code=code, notification_type=notification_type, language=language, version=version
    )
    if len(_resolved) >= _RESOLVED_MAX:
        _resolved.clear()
    _resolved[key] = resolved
    return resolved


def _template_version_resolve(
    *, code: str, notification_type: str, language: str | None = None, version: int | None = None
) -> TemplateVersion:
    """The version to render for (code, notification_type) in the best available language.

    Languages are tried most specific first: pt-BR, then pt, then settings.DEFAULT_LANGUAGE (None: the
    default alone). The first language with the template (and an active version, when `version` is None)
    wins; `version` then picks that version of that template, with no further fallback, since version
    numbers belong to one template. Returns the version with its template loaded (no query to reach
    `version.template`). One query for the active version, two for a given version number. Raises
    ApplicationError "template_not_found" (404).
    """
    chain = language_fallback_chain(language=language)
    candidates = Template.objects.filter(code=code, notification_type=notification_type, language__in=chain)
    if version is None:
        candidates = candidates.filter(active_version__isnull=False).select_related("active_version")
    by_language = {template.language: template for template in candidates}
    template = next((by_language[lang] for lang in chain if lang in by_language), None)
    if template is None:
        raise _not_found(code)
    if version is None:
        resolved = template.active_version
        assert resolved is not None  # filtered above
    else:
        resolved = TemplateVersion.objects.filter(template=template, version=version).first()
        if resolved is None:
            raise ApplicationError(
                f"Template {code!r} ({template.language}, {notification_type}) has no version {version}.",
                code="template_not_found",
                status=404,
            )
    resolved.template = template
    return resolved


def template_notification_type_infer(*, code: str, language: str | None = None) -> str:
    """The notification type of `code` when the caller did not say; 400 if it exists for several.

    With `language`, only that exact language counts (activation); without, any language (rendering).
    """
    templates = Template.objects.filter(code=code)
    if language is not None:
        templates = templates.filter(language=language_normalize(language=language))
    types = sorted(set(templates.values_list("notification_type", flat=True)))
    if not types:
        raise _not_found(code)
    if len(types) > 1:
        raise ApplicationError(
            f"Template {code!r} exists for {' and '.join(types)}: give notification_type.",
            code="validation_error",
            status=400,
            data={"notification_type": [f"Required: {code!r} exists for {', '.join(types)}."]},
        )
    return types[0]


def template_list(
    *, code: str | None = None, language: str | None = None, notification_type: str | None = None
) -> QuerySet[Template]:
    """Templates with their active version loaded and `versions_count` annotated, filtered exactly."""
    templates = Template.objects.select_related("active_version").annotate(versions_count=Count("versions"))
    if code is not None:
        templates = templates.filter(code=code)
    if language is not None:
        templates = templates.filter(language=language_normalize(language=language))
    if notification_type is not None:
        templates = templates.filter(notification_type=notification_type)
    return templates.order_by("code", "language", "notification_type")


def template_variants_get(
    *, code: str, language: str | None = None, notification_type: str | None = None
) -> list[Template]:
    """Every (language, notification_type) variant of `code`, optionally narrowed; 404 when none."""
    variants = list(template_list(code=code, language=language, notification_type=notification_type))
    if not variants:
        raise _not_found(code)
    return variants


def template_version_list(
    *, code: str, language: str | None = None, notification_type: str | None = None
) -> QuerySet[TemplateVersion]:
    """The version history of `code`, newest first, with templates loaded; 404 when the code is unknown."""
    if not Template.objects.filter(code=code).exists():
        raise _not_found(code)
    versions = TemplateVersion.objects.select_related("template").filter(template__code=code)
    if language is not None:
        versions = versions.filter(template__language=language_normalize(language=language))
    if notification_type is not None:
        versions = versions.filter(template__notification_type=notification_type)
    return versions.order_by("-created_at", "-id")
