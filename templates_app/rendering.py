"""Mustache rendering through pystache. Pure: no database access, so workers and the API share it.

Every source string is parsed once (bounded LRU cache) into a `CompiledTemplate` that holds the parse tree
and the variables it needs; rendering walks the cached tree. Partials (`{{> name}}`) are refused: pystache
would read them from the working directory.
"""

import contextvars
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pystache
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from pystache.parsed import ParsedTemplate
from pystache.parser import (
    ParsingError,
    _EscapeNode,
    _InvertedNode,
    _LiteralNode,
    _PartialNode,
    _SectionNode,
)
from pystache.renderengine import RenderEngine

from notifier.api.errors import ApplicationError

if TYPE_CHECKING:
    from templates_app.models import TemplateVersion

PARSE_CACHE_SIZE = 1024
# Bounds on one field's rendering, so a template looping over a large list (or nested loops over one)
# cannot take a worker down: section items visited, and characters produced (TEMPLATE_RENDER_LIMITS,
# checked as the output grows, so rendering stops as soon as a bound is crossed).
MAX_SECTION_ITEMS = 10_000

# A tag name: word characters and hyphens, dotted for nested values. Stricter than pystache, which
# would accept `{{first name}}` or `{{{x}}` as names that can never resolve.
_NAME_RE = re.compile(r"^[\w-]+(\.[\w-]+)*$")
# Every character str.splitlines() breaks on: none may survive in a subject (email header injection).
_LINE_BREAKS_RE = re.compile(r"[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+")

FIELDS = ("subject", "body", "html_body", "image_url", "link")
http_url_validator = URLValidator(schemes=["http", "https"])


class TemplateSyntaxError(ApplicationError):
    def __init__(self, *, field: str, detail: str) -> None:
        super().__init__(
            f"Template syntax error in {field}: {detail}",
            code="template_syntax_error",
            status=400,
            data={field: [detail]},
        )
        self.field = field
        self.detail = detail


class TemplateRenderError(ApplicationError):
    """Required variables were not given (or were null); `missing` names every one of them."""

    def __init__(self, *, missing: list[str]) -> None:
        super().__init__(
            "Missing template variables: " + ", ".join(missing),
            code="missing_variables",
            status=400,
            data={"missing": missing},
        )
        self.missing = missing


class TemplateRenderedUrlError(ApplicationError):
    """A rendered image_url or link is not an http(s) URL (a variable can make it `javascript:...`)."""

    def __init__(self, *, field: str) -> None:
        super().__init__(
            f"The rendered {field} is not an http(s) URL.",
            code="invalid_rendered_url",
            status=400,
            data={field: ["Must render to an http or https URL."]},
        )


class TemplateRenderLimitError(ApplicationError):
    def __init__(self, *, detail: str) -> None:
        super().__init__(detail, code="render_limit_exceeded", status=400)


@dataclass(frozen=True)
class CompiledTemplate:
    parsed: ParsedTemplate
    # Dotted paths of the variable tags outside any section, e.g. ("user", "name").
    required_paths: frozenset[tuple[str, ...]]
    # Top-level names used only as section names or inside sections.
    optional_names: frozenset[str]

    @property
    def required_names(self) -> frozenset[str]:
        return frozenset(path[0] for path in self.required_paths)


@dataclass(frozen=True)
class RenderedTemplate:
    subject: str
    body: str
    html_body: str
    image_url: str
    link: str
    version: int
    language: str


def _check_name(name: str) -> tuple[str, ...]:
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"invalid tag name {name!r}")
    return tuple(name.split("."))


class _BudgetedParsedTemplate(ParsedTemplate):
    """A parsed (sub)template that charges its literal text to the rendering's budget before rendering
    it: a section renders its body once per item, so output is counted as it is produced."""

    literal_chars = 0

    def render(self, engine: Any, context: Any) -> str:
        if isinstance(engine, _BoundedEngine):
            engine.charge(self.literal_chars)
        return super().render(engine, context)


_STRAY_DELIMITERS = ("{{", "}}")


def _collect(
    parsed: ParsedTemplate,
    *,
    in_section: bool,
    required: set[tuple[str, ...]],
    optional: set[str],
    depth: int = 0,
) -> None:
    """Walks the parse tree: records the variables, refuses what the renderer would not expand (partials,
    stray delimiters, odd names), bounds section nesting, and makes every subtree budgeted."""
    max_depth = settings.TEMPLATE_MAX_NESTING_DEPTH
    if depth > max_depth:
        raise ValueError(f"sections are nested more than {max_depth} deep (TEMPLATE_MAX_NESTING_DEPTH)")
    parsed.__class__ = _BudgetedParsedTemplate
    literal_chars = 0
    for node in parsed._parse_tree:
        if type(node) is str:
            literal_chars += len(node)
            stray = next((d for d in _STRAY_DELIMITERS if d in node), None)
            if stray:
                raise ValueError(f"{stray!r} that is not a tag (an unclosed or stray delimiter)")
        elif isinstance(node, (_EscapeNode, _LiteralNode)):
            if node.key == ".":  # the implicit iterator: the current section item
                continue
            path = _check_name(node.key)
            if in_section:
                optional.add(path[0])
            else:
                required.add(path)
        elif isinstance(node, (_SectionNode, _InvertedNode)):
            if node.key != ".":
                optional.add(_check_name(node.key)[0])
            inner = node.parsed if isinstance(node, _SectionNode) else node.parsed_section
            _collect(inner, in_section=True, required=required, optional=optional, depth=depth + 1)
        elif isinstance(node, _PartialNode):
            raise ValueError(f"partials are not supported ({{{{>{node.key}}}}})")
    parsed.literal_chars = literal_chars  # type: ignore[attr-defined]


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def _compile(source: str) -> CompiledTemplate:
    """Parses one source string; raises ValueError with the parser's message. Cached per source."""
    try:
        parsed = pystache.parse(source, raise_on_mismatch=True)
    except ParsingError as exc:
        raise ValueError(str(exc)) from None
    except IndexError:  # pystache's reaction to a delimiter change without two delimiters: {{=x=}}
        raise ValueError("invalid delimiter change: give two delimiters, e.g. {{=<% %>=}}") from None
    except RecursionError:
        raise ValueError("the template is nested too deeply to parse") from None
    required: set[tuple[str, ...]] = set()
    optional: set[str] = set()
    _collect(parsed, in_section=False, required=required, optional=optional)
    required_names = {path[0] for path in required}
    return CompiledTemplate(
        parsed=parsed, required_paths=frozenset(required), optional_names=frozenset(optional - required_names)
    )


def template_compile(*, source: str, field: str) -> CompiledTemplate:
    """The cached compiled form of `source`; raises TemplateSyntaxError naming `field`."""
    try:
        return _compile(source)
    except ValueError as exc:
        raise TemplateSyntaxError(field=field, detail=str(exc)) from None


def _compile_fields(sources: dict[str, str]) -> dict[str, CompiledTemplate]:
    return {field: template_compile(source=source, field=field) for field, source in sources.items()}


def template_variables_extract(
    *, subject: str, body: str, html_body: str = "", image_url: str = "", link: str = ""
) -> dict[str, list[str]]:
    """The variables a template needs, as {"required": [...], "optional": [...]}, each sorted.

    The rule, over all fields together:
    - a variable tag outside any section ({{x}}, {{{x}}}, {{&x}}) makes its top-level name required;
      a dotted tag {{user.name}} makes "user" required;
    - a name used as a section or inverted-section name ({{#x}}...{{/x}}, {{^x}}...{{/x}}) is optional:
      a missing value is simply falsy;
    - names inside a section are optional: they resolve against the section's item first;
    - a name required anywhere is not listed as optional.
    Raises TemplateSyntaxError (naming the field and with the parser's message) for a malformed source.
    """
    compiled = _compile_fields(
        {"subject": subject, "body": body, "html_body": html_body, "image_url": image_url, "link": link}
    )
    required = set().union(*(c.required_names for c in compiled.values()))
    optional = set().union(*(c.optional_names for c in compiled.values())) - required
    return {"required": sorted(required), "optional": sorted(optional)}


def _missing_paths(compiled: list[CompiledTemplate], variables: dict[str, Any]) -> list[str]:
    """Required paths absent from `variables` or null; for an absent object only its top-level name."""
    missing: set[str] = set()
    for path in set().union(*(c.required_paths for c in compiled)):
        value: Any = variables
        for depth, part in enumerate(path):
            if not isinstance(value, dict) or value.get(part) is None:
                missing.add(".".join(path[: depth + 1]))
                break
            value = value[part]
    return sorted(missing)


def value_as_text(value: Any) -> str:
    """JSON values as text: null is empty, booleans are true/false, lists and objects are JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# The output bound of the field being rendered; read by the engine pystache builds for each render call.
_render_limit: contextvars.ContextVar[tuple[str, int]] = contextvars.ContextVar("render_limit")


class _BoundedEngine(RenderEngine):
    """Counts section items and output characters of one rendering and stops past the bounds."""

    def __init__(self, **kwargs: Any) -> None:
        escape, literal = kwargs.pop("escape"), kwargs.pop("literal")
        super().__init__(escape=self._counted(escape), literal=self._counted(literal), **kwargs)
        self.section_items = 0
        self.output_chars = 0
        self.field, self.max_chars = _render_limit.get(("field", 0))

    def _counted(self, convert: Callable[[str], str]) -> Callable[[str], str]:
        def counted(text: str) -> str:
            converted = convert(text)
            self.charge(len(converted))
            return converted

        return counted

    def charge(self, chars: int) -> None:
        self.output_chars += chars
        if self.max_chars and self.output_chars > self.max_chars:
            raise TemplateRenderLimitError(
                detail=f"The rendered {self.field} is longer than {self.max_chars} characters."
            )

    def fetch_section_data(self, context: Any, name: str) -> Any:
        data = super().fetch_section_data(context, name)
        self.section_items += len(data)
        if self.section_items > MAX_SECTION_ITEMS:
            raise TemplateRenderLimitError(
                detail=f"Rendering visits more than {MAX_SECTION_ITEMS} section items."
            )
        return data


class _Renderer(pystache.Renderer):
    """pystache's Renderer with the bounded engine, JSON-friendly text and no file-system partials."""

    def __init__(self, *, escape: Any) -> None:
        super().__init__(escape=escape, missing_tags="ignore", partials={})

    def str_coerce(self, val: Any) -> str:
        return value_as_text(val)

    def _make_render_engine(self) -> RenderEngine:
        # pystache 0.6.8 (pinned) builds a fresh engine per render() call; we wrap the same callables.
        engine = super()._make_render_engine()
        return _BoundedEngine(
            literal=engine.literal,
            escape=engine.escape,
            resolve_context=engine.resolve_context,
            resolve_partial=engine.resolve_partial,
            to_str=engine.to_str,
        )

    def render_bounded(
        self, parsed: ParsedTemplate, variables: dict[str, Any], *, field: str, limit: int
    ) -> str:
        token = _render_limit.set((field, limit))
        try:
            return str(self.render(parsed, variables))
        except RecursionError:
            raise TemplateRenderLimitError(detail=f"The {field} nests too deeply to render.") from None
        finally:
            _render_limit.reset(token)


_PLAIN = _Renderer(escape=lambda text: text)
_HTML = _Renderer(escape=lambda text: html.escape(text, quote=True))


def _subject_one_line(subject: str) -> str:
    return _LINE_BREAKS_RE.sub(" ", subject).strip()


def template_variables_missing(*, version: "TemplateVersion", variables: dict[str, Any]) -> list[str]:
    """The required variables `template_render` would report missing (sorted): the same check, no render.

    Stricter than comparing with `version.variables["required"]`: a null value counts as missing, and
    a dotted tag {{user.name}} needs "name" inside "user". The accept path can call it to refuse early.
    """
    compiled = _compile_fields({field: getattr(version, field) or "" for field in FIELDS})
    return _missing_paths(list(compiled.values()), variables)


def template_render(*, version: "TemplateVersion", variables: dict[str, Any]) -> RenderedTemplate:
    """Renders a version with `variables`; the result's `language` is `version.template.language`.

    Callers load the version with select_related("template") (template_version_resolve does), so this
    function makes no query. Required variables (see template_variables_extract; a dotted tag also needs
    its nested keys) are checked first: TemplateRenderError names every one that is missing or null.
    Only html_body is HTML-escaped; subject, body, image_url and link are plain text. Line breaks in
    the rendered subject become single spaces and its ends are stripped: a subject is one header line;
    image_url and link are stripped too (a URL has no surrounding whitespace) and must then be http(s)
    URLs (TemplateRenderedUrlError). Every part is bounded by TEMPLATE_RENDER_LIMITS
    (TemplateRenderLimitError).
    """
    sources = {field: getattr(version, field) or "" for field in FIELDS}
    compiled = _compile_fields(sources)
    missing = _missing_paths(list(compiled.values()), variables)
    if missing:
        raise TemplateRenderError(missing=missing)
    limits = settings.TEMPLATE_RENDER_LIMITS[version.template.notification_type]
    rendered = {
        field: (_HTML if field == "html_body" else _PLAIN).render_bounded(
            compiled[field].parsed, variables, field=field, limit=limits.get(field, 0)
        )
        if sources[field]
        else ""
        for field in FIELDS
    }
    for field in ("image_url", "link"):
        rendered[field] = rendered[field].strip()
        if rendered[field]:
            try:
                http_url_validator(rendered[field])
            except DjangoValidationError:
                raise TemplateRenderedUrlError(field=field) from None
    return RenderedTemplate(
        subject=_subject_one_line(rendered["subject"]),
        body=rendered["body"],
        html_body=rendered["html_body"],
        image_url=rendered["image_url"],
        link=rendered["link"],
        version=version.version,
        language=version.template.language,
    )


def template_sample_variables(*, sources: dict[str, str]) -> dict[str, Any]:
    """Sample values for previews: each required path gets the text "[path]", nested for dotted tags."""
    sample: dict[str, Any] = {}
    for compiled in _compile_fields(sources).values():
        for path in sorted(compiled.required_paths, key=len):
            node = sample
            for part in path[:-1]:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
            node.setdefault(path[-1], f"[{'.'.join(path)}]")
    return sample
