"""Rendering is pure: these tests build unsaved model instances and never touch the database."""

import tracemalloc

import pytest

from templates_app import rendering
from templates_app.models import NotificationType, Template, TemplateVersion
from templates_app.rendering import (
    MAX_SECTION_ITEMS,
    RenderedTemplate,
    TemplateRenderError,
    TemplateRenderLimitError,
    TemplateSyntaxError,
    template_render,
    template_sample_variables,
    template_variables_extract,
    template_variables_missing,
)


def _version(**fields) -> TemplateVersion:
    template = Template(
        code="welcome", language=fields.pop("language", "en"), notification_type=NotificationType.EMAIL
    )
    defaults = {"version": 3, "subject": "Hi", "body": "Body", "html_body": "", "image_url": "", "link": ""}
    return TemplateVersion(template=template, **{**defaults, **fields})


def test_extract_plain_tags_outside_sections_are_required():
    variables = template_variables_extract(
        subject="Hi {{name}}", body="{{{raw}}} {{&amp}} {{ spaced }}", html_body="<p>{{user.email}}</p>"
    )

    assert variables == {"required": ["amp", "name", "raw", "spaced", "user"], "optional": []}


def test_extract_section_names_and_names_inside_sections_are_optional():
    variables = template_variables_extract(
        subject="{{#vip}}VIP {{/vip}}order {{order}}",
        body="{{#items}}- {{title}} {{.}}\n{{/items}}{{^items}}nothing{{/items}}"
        "{{^premium}}{{plan}}{{/premium}}",
    )

    assert variables == {"required": ["order"], "optional": ["items", "plan", "premium", "title", "vip"]}


def test_extract_a_name_required_anywhere_is_not_optional():
    variables = template_variables_extract(subject="{{name}}", body="{{#name}}{{name}}{{/name}}")

    assert variables == {"required": ["name"], "optional": []}


def test_extract_covers_every_field_and_changed_delimiters():
    variables = template_variables_extract(
        subject="s{{a}}", body="{{=<% %>=}}<%b%>", html_body="{{c}}", image_url="{{d}}", link="{{e}}"
    )

    assert variables == {"required": ["a", "b", "c", "d", "e"], "optional": []}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("{{#items}}open", "Did not find a matching tag for {{#items}}. Its section starts at position 10"),
        ("{{#a}}x{{/b}}", "Section end tag mismatch at position 13. Found {{/b}}, expected {{/a}}"),
        ("x{{/a}}", "Section end tag mismatch at position 7. Found {{/a}}, expected {{#a}}"),
        ("{{> header}}", "partials are not supported ({{>header}})"),
        ("{{=x=}}", "invalid delimiter change: give two delimiters, e.g. {{=<% %>=}}"),
        ("{{first name}}", "invalid tag name 'first name'"),
        ("{{{name}}", "invalid tag name '{name'"),
        ("{{a..b}}", "invalid tag name 'a..b'"),
    ],
)
def test_extract_syntax_errors_carry_the_parser_message_and_the_field(body, detail):
    with pytest.raises(TemplateSyntaxError) as caught:
        template_variables_extract(subject="ok", body=body)

    error = caught.value
    assert (error.code, error.status, error.field, error.detail) == (
        "template_syntax_error",
        400,
        "body",
        detail,
    )
    assert error.message == f"Template syntax error in body: {detail}"
    assert error.data == {"body": [detail]}


def test_render_fills_every_field_and_reports_version_and_language():
    version = _version(
        language="pt-BR",
        subject="Olá {{user.name}}",
        body="Pedido {{order}}",
        html_body="<p>{{order}}</p>",
        image_url="https://img.test/{{order}}.png",
        link="https://app.test/orders/{{order}}",
    )

    rendered = template_render(version=version, variables={"user": {"name": "Ana"}, "order": 42})

    assert rendered == RenderedTemplate(
        subject="Olá Ana",
        body="Pedido 42",
        html_body="<p>42</p>",
        image_url="https://img.test/42.png",
        link="https://app.test/orders/42",
        version=3,
        language="pt-BR",
    )


def test_render_escapes_html_body_only():
    value = "<b>&\"'"
    version = _version(
        subject="S {{v}}",
        body="B {{v}}",
        html_body="<p>{{v}}|{{{v}}}|{{&v}}</p>",
        link="https://x.test/?q={{v}}",
    )

    rendered = template_render(version=version, variables={"v": value})

    assert rendered.subject == "S <b>&\"'"
    assert rendered.body == "B <b>&\"'"
    assert rendered.link == "https://x.test/?q=<b>&\"'"
    assert rendered.html_body == "<p>&lt;b&gt;&amp;&quot;&#x27;|<b>&\"'|<b>&\"'</p>"


def test_render_names_every_missing_variable_before_rendering():
    version = _version(subject="{{a}} {{user.name}}", body="{{b}} {{#s}}{{inner}}{{/s}}", html_body="{{c}}")

    with pytest.raises(TemplateRenderError) as caught:
        template_render(version=version, variables={"a": "x", "b": None, "user": {}})

    error = caught.value
    assert error.missing == ["b", "c", "user.name"]
    assert (error.code, error.status, error.data) == (
        "missing_variables",
        400,
        {"missing": ["b", "c", "user.name"]},
    )
    assert error.message == "Missing template variables: b, c, user.name"


def test_variables_missing_is_the_render_check_without_rendering():
    version = _version(subject="{{a}} {{user.name}}", body="{{#s}}{{inner}}{{/s}}")

    assert template_variables_missing(version=version, variables={"a": None, "user": {"name": "x"}}) == ["a"]
    assert template_variables_missing(version=version, variables={"a": 1, "user": {"name": "x"}}) == []


def test_render_reports_an_absent_object_once_by_its_top_level_name():
    version = _version(subject="{{user.name}}", body="{{user.email}}")

    with pytest.raises(TemplateRenderError) as caught:
        template_render(version=version, variables={})

    assert caught.value.missing == ["user"]


def test_render_optional_names_may_be_missing():
    version = _version(subject="Hi", body="{{#vip}}VIP{{/vip}}{{^vip}}regular{{/vip}}")

    assert template_render(version=version, variables={}).body == "regular"


def test_render_subject_is_one_line():
    version = _version(subject="Hello {{name}}")

    rendered = template_render(version=version, variables={"name": "x\r\nBcc: victim@example.com\n\u2028y\n"})

    assert rendered.subject == "Hello x Bcc: victim@example.com y"


def test_render_formats_json_values_as_text():
    version = _version(subject="s", body="{{t}} {{f}} {{n}} {{x}} {{l}} {{#o}}{{z}}{{/o}}")

    rendered = template_render(
        version=version,
        variables={"t": True, "f": False, "n": 1.5, "x": {"k": "é"}, "l": [1], "o": {"z": None}},
    )

    assert rendered.body == 'true false 1.5 {"k": "é"} [1] '


def test_render_iterates_lists_in_sections():
    version = _version(subject="s", body="{{#items}}{{title}}={{qty}};{{/items}}")

    rendered = template_render(
        version=version, variables={"items": [{"title": "a", "qty": 1}, {"title": "b", "qty": 2}]}
    )

    assert rendered.body == "a=1;b=2;"


def test_render_stops_past_the_section_item_bound():
    version = _version(subject="s", body="{{#items}}{{#items}}x{{/items}}{{/items}}")
    items = list(range(200))  # 200 + 200 * 200 items visited

    with pytest.raises(TemplateRenderLimitError) as caught:
        template_render(version=version, variables={"items": items})

    assert caught.value.code == "render_limit_exceeded"
    assert caught.value.message == f"Rendering visits more than {MAX_SECTION_ITEMS} section items."


def test_render_stops_past_the_output_bound_counting_interpolated_text(settings):
    version = _version(subject="s", body="{{#items}}{{big}}{{/items}}")

    with pytest.raises(TemplateRenderLimitError) as caught:
        template_render(version=version, variables={"items": list(range(101)), "big": "x" * 20_000})

    limit = settings.RENDER_MAX_EMAIL_BODY_CHARS
    assert caught.value.message == f"The rendered body is longer than {limit} characters."


def test_a_section_repeating_literal_text_stops_as_soon_as_the_bound_is_crossed():
    """20 KB of literal text over 10,000 items would be 200 MB; rendering stops near the bound instead."""
    version = _version(subject="s", body="{{#items}}" + "x" * 20_000 + "{{/items}}")

    tracemalloc.start()
    try:
        with pytest.raises(TemplateRenderLimitError):
            template_render(version=version, variables={"items": list(range(10_000))})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 20_000_000


def test_html_escaping_counts_toward_the_bound(settings):
    settings.TEMPLATE_RENDER_LIMITS = {"email": {"subject": 998, "body": 100, "html_body": 100}}
    version = _version(subject="s", body="b", html_body="{{x}}")

    with pytest.raises(TemplateRenderLimitError, match="html_body is longer than 100"):
        template_render(version=version, variables={"x": "<" * 30})  # 30 characters, 120 escaped

    assert template_render(version=version, variables={"x": "<" * 25}).html_body == "&lt;" * 25


def test_a_push_body_is_bounded_to_fit_fcm(settings):
    template = Template(code="alert", language="en", notification_type=NotificationType.PUSH)
    version = TemplateVersion(template=template, version=1, subject="t", body="{{message}}")
    limit = settings.RENDER_MAX_PUSH_BODY_CHARS

    with pytest.raises(TemplateRenderLimitError, match=f"body is longer than {limit}"):
        template_render(version=version, variables={"message": "m" * (limit + 1)})


@pytest.mark.parametrize("depth", [11, 500, 1_000])
def test_sections_nested_past_the_bound_are_a_syntax_error(depth):
    source = (
        "".join(f"{{{{#s{n}}}}}" for n in range(depth))
        + "x"
        + "".join(f"{{{{/s{n}}}}}" for n in reversed(range(depth)))
    )

    with pytest.raises(TemplateSyntaxError, match="nested more than 10 deep"):
        template_variables_extract(subject="s", body=source)


def test_sections_nested_to_the_bound_are_fine():
    source = (
        "".join(f"{{{{#s{n}}}}}" for n in range(10))
        + "x"
        + "".join(f"{{{{/s{n}}}}}" for n in reversed(range(10)))
    )

    assert template_variables_extract(subject="s", body=source)["optional"] == [f"s{n}" for n in range(10)]


@pytest.mark.parametrize("source", ["Hi {{name", "Hi name}}", "{{name}} and {{", "a {{ b", "{{#s}}x}}{{/s}}"])
def test_a_stray_delimiter_is_a_syntax_error(source):
    with pytest.raises(TemplateSyntaxError, match="that is not a tag"):
        template_variables_extract(subject=source, body="b")


def test_comments_and_triple_mustaches_are_not_stray():
    variables = template_variables_extract(subject="{{! a note }}Hi {{{name}}}", body="{{&raw}}")

    assert variables == {"required": ["name", "raw"], "optional": []}


def test_render_parses_each_source_once():
    rendering._compile.cache_clear()
    version = _version(subject="Hi {{name}}", body="Body {{name}}")

    for _ in range(3):
        template_render(version=version, variables={"name": "a"})

    info = rendering._compile.cache_info()
    # subject, body and the three empty sources ("" is shared) are parsed once each.
    assert (info.misses, info.hits) == (3, 12)


def test_sample_variables_nest_dotted_paths_and_skip_optional_names():
    sample = template_sample_variables(
        sources={"subject": "{{user.name}} {{user.email}}", "body": "{{order}} {{#items}}{{title}}{{/items}}"}
    )

    assert sample == {"user": {"name": "[user.name]", "email": "[user.email]"}, "order": "[order]"}
