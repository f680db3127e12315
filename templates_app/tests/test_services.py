import threading

import pytest
from django.db import connection

from notifier.api.errors import ApplicationError
from templates_app.models import Template, TemplateVersion
from templates_app.rendering import TemplateSyntaxError
from templates_app.services import template_activate, template_create_or_version

pytestmark = pytest.mark.django_db


def _create(**overrides) -> TemplateVersion:
    fields = {
        "code": "welcome",
        "language": "en",
        "notification_type": "email",
        "subject": "Hi {{name}}",
        "body": "Welcome {{name}}{{#vip}}, VIP{{/vip}}",
    }
    return template_create_or_version(**{**fields, **overrides})


def test_create_makes_the_template_and_version_1_active():
    version = _create(html_body="<p>{{name}} {{team}}</p>", description="First mail")

    template = Template.objects.get()
    assert (template.code, template.language, template.notification_type) == ("welcome", "en", "email")
    assert template.description == "First mail"
    assert template.active_version_id == version.id
    assert version.version == 1
    assert version.variables == {"required": ["name", "team"], "optional": ["vip"]}
    assert version.html_body == "<p>{{name}} {{team}}</p>"


def test_each_change_is_a_new_active_version_and_the_history_is_kept():
    _create(subject="one")
    _create(subject="two")
    third = _create(subject="three")

    template = Template.objects.get()
    assert list(template.versions.order_by("version").values_list("version", "subject")) == [
        (1, "one"),
        (2, "two"),
        (3, "three"),
    ]
    assert template.active_version_id == third.id


def test_description_is_kept_unless_given():
    _create(description="First")
    _create()
    assert Template.objects.get().description == "First"

    _create(description="")
    assert Template.objects.get().description == ""


def test_language_is_normalised_and_variants_are_separate_templates():
    _create(language="PT-br")
    _create(language="pt-BR")
    _create(notification_type="push")

    assert sorted(Template.objects.values_list("language", "notification_type")) == [
        ("en", "push"),
        ("pt-BR", "email"),
    ]
    assert Template.objects.get(language="pt-BR").versions.count() == 2


def test_push_templates_take_image_url_and_link():
    version = _create(notification_type="push", image_url="https://img.test/{{id}}.png", link="{{link}}")

    assert (version.image_url, version.link) == ("https://img.test/{{id}}.png", "{{link}}")
    assert version.variables == {"required": ["id", "link", "name"], "optional": ["vip"]}


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        (
            {"notification_type": "push", "html_body": "<p>x</p>"},
            {"html_body": ["Only email templates have html_body."]},
        ),
        ({"image_url": "https://img.test/a.png"}, {"image_url": ["Only push templates have image_url."]}),
        ({"link": "https://app.test"}, {"link": ["Only push templates have link."]}),
        ({"subject": "  "}, {"subject": ["This field is required."]}),
        ({"body": ""}, {"body": ["This field is required."]}),
        ({"subject": "Hi\nBcc: x"}, {"subject": ["A subject is one line."]}),
        ({"code": "render"}, {"code": ["'render' is reserved."]}),
        ({"language": "english!"}, {"language": ["Not a language tag like en, fr or pt-BR."]}),
        ({"notification_type": "sms"}, {"notification_type": ["One of: email, push."]}),
    ],
)
def test_invalid_content_is_refused_and_nothing_is_written(overrides, errors):
    with pytest.raises(ApplicationError) as caught:
        _create(**overrides)

    assert (caught.value.status, caught.value.code, caught.value.data) == (400, "validation_error", errors)
    assert Template.objects.count() == 0
    assert TemplateVersion.objects.count() == 0


def test_syntax_error_is_refused_with_the_parser_message_and_nothing_is_written():
    _create()

    with pytest.raises(TemplateSyntaxError) as caught:
        _create(body="{{#items}}never closed", description="changed")

    assert caught.value.data == {
        "body": ["Did not find a matching tag for {{#items}}. Its section starts at position 10"]
    }
    template = Template.objects.get()
    assert template.versions.count() == 1
    assert template.description == ""


def test_activate_switches_the_active_version():
    first = _create(subject="one")
    _create(subject="two")

    activated = template_activate(code="welcome", version=1, language="en")

    assert activated.id == first.id
    assert activated.template.active_version_id == first.id
    assert Template.objects.get().active_version_id == first.id


def test_activate_unknown_template_or_version_is_404_and_changes_nothing():
    _create()
    second = _create()

    with pytest.raises(ApplicationError) as no_version:
        template_activate(code="welcome", version=9, language="en")
    with pytest.raises(ApplicationError) as no_language:
        template_activate(code="welcome", version=1, language="fr")

    assert (no_version.value.status, no_version.value.code) == (404, "template_not_found")
    assert (no_language.value.status, no_language.value.code) == (404, "template_not_found")
    assert Template.objects.get().active_version_id == second.id


def test_activate_needs_the_type_when_the_code_has_both_in_that_language():
    _create()
    _create()
    push = _create(notification_type="push")

    with pytest.raises(ApplicationError) as caught:
        template_activate(code="welcome", version=1, language="en")
    activated = template_activate(code="welcome", version=1, language="en", notification_type="email")

    assert (caught.value.status, caught.value.code) == (400, "validation_error")
    assert activated.template.notification_type == "email"
    assert Template.objects.get(notification_type="push").active_version_id == push.id


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_yields_distinct_consecutive_versions():
    writers = 8
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            _create(subject=f"writer {n}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    template = Template.objects.get()
    assert sorted(template.versions.values_list("version", flat=True)) == list(range(1, writers + 1))
    assert template.active_version.version == writers
