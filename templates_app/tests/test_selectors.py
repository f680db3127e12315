import pytest
from django.test import override_settings

from notifier.api.errors import ApplicationError
from templates_app.models import NotificationType
from templates_app.selectors import (
    template_list,
    template_notification_type_infer,
    template_variants_get,
    template_version_list,
    template_version_resolve,
)
from templates_app.tests.factories import TemplateFactory, TemplateVersionFactory

pytestmark = pytest.mark.django_db


def _template(*, code="welcome", language="en", notification_type=NotificationType.EMAIL, versions=1):
    template = TemplateFactory(code=code, language=language, notification_type=notification_type)
    created = [
        TemplateVersionFactory(template=template, version=n, subject=f"{language} v{n}")
        for n in range(1, versions + 1)
    ]
    template.active_version = created[-1]
    template.save()
    return template, created


def test_resolve_returns_the_active_version_with_its_template_in_one_query(django_assert_num_queries):
    _, versions = _template(versions=2)

    with django_assert_num_queries(1):
        resolved = template_version_resolve(code="welcome", notification_type="email", language="en")
        assert resolved.template.language == "en"

    assert resolved.pk == versions[1].pk


def test_resolve_prefers_the_exact_language():
    _template(language="en")
    _template(language="pt")
    _template(language="pt-BR")

    assert (
        template_version_resolve(code="welcome", notification_type="email", language="pt-br").subject
        == "pt-BR v1"
    )


def test_resolve_falls_back_from_region_to_language_to_default():
    _template(language="en")
    _template(language="pt")

    assert (
        template_version_resolve(code="welcome", notification_type="email", language="pt-BR").subject
        == "pt v1"
    )
    assert (
        template_version_resolve(code="welcome", notification_type="email", language="fr").subject == "en v1"
    )
    assert template_version_resolve(code="welcome", notification_type="email").subject == "en v1"


@override_settings(DEFAULT_LANGUAGE="fr")
def test_resolve_uses_the_configured_default_language():
    _template(language="en")
    _template(language="fr")

    assert (
        template_version_resolve(code="welcome", notification_type="email", language="de").subject == "fr v1"
    )


def test_resolve_with_an_invalid_language_uses_the_default():
    _template(language="en")

    assert (
        template_version_resolve(code="welcome", notification_type="email", language="!!").subject == "en v1"
    )


def test_resolve_honours_an_activated_older_version():
    template, versions = _template(versions=3)
    template.active_version = versions[0]
    template.save()

    assert template_version_resolve(code="welcome", notification_type="email").version == 1


def test_resolve_a_given_version_number_in_two_queries(django_assert_num_queries):
    _template(versions=3)

    with django_assert_num_queries(2):
        resolved = template_version_resolve(code="welcome", notification_type="email", version=2)
        assert resolved.template.code == "welcome"

    assert (resolved.version, resolved.subject) == (2, "en v2")


def test_resolve_a_given_version_does_not_fall_back_to_another_language():
    _template(language="en", versions=3)
    _template(language="pt", versions=1)

    with pytest.raises(ApplicationError) as caught:
        template_version_resolve(code="welcome", notification_type="email", language="pt", version=3)

    assert (caught.value.code, caught.value.status) == ("template_not_found", 404)
    assert caught.value.message == "Template 'welcome' (pt, email) has no version 3."


def test_resolve_skips_a_language_without_an_active_version():
    _template(language="en")
    TemplateFactory(code="welcome", language="pt")

    assert (
        template_version_resolve(code="welcome", notification_type="email", language="pt").subject == "en v1"
    )


@pytest.mark.parametrize(("code", "notification_type"), [("unknown", "email"), ("welcome", "push")])
def test_resolve_unknown_is_404(code, notification_type):
    _template()

    with pytest.raises(ApplicationError) as caught:
        template_version_resolve(code=code, notification_type=notification_type)

    assert (caught.value.code, caught.value.status) == ("template_not_found", 404)


def test_notification_type_infer():
    _template(code="both", notification_type="email")
    _template(code="both", language="fr", notification_type="push")
    _template(code="only-push", notification_type="push")

    assert template_notification_type_infer(code="only-push") == "push"
    assert template_notification_type_infer(code="both", language="FR") == "push"
    with pytest.raises(ApplicationError) as ambiguous:
        template_notification_type_infer(code="both")
    with pytest.raises(ApplicationError) as unknown:
        template_notification_type_infer(code="nope")

    assert (ambiguous.value.status, ambiguous.value.code) == (400, "validation_error")
    assert ambiguous.value.data == {"notification_type": ["Required: 'both' exists for email, push."]}
    assert (unknown.value.status, unknown.value.code) == (404, "template_not_found")


def test_list_filters_and_counts_versions():
    _template(code="a", versions=2)
    _template(code="a", language="pt-BR", notification_type="push")
    _template(code="b")

    everything = list(template_list())
    by_language = list(template_list(language="pt-br"))
    by_type = list(template_list(code="a", notification_type="email"))

    assert [(t.code, t.language, t.notification_type, t.versions_count) for t in everything] == [
        ("a", "en", "email", 2),
        ("a", "pt-BR", "push", 1),
        ("b", "en", "email", 1),
    ]
    assert [(t.code, t.language) for t in by_language] == [("a", "pt-BR")]
    assert [(t.code, t.active_version.version) for t in by_type] == [("a", 2)]


def test_variants_get_404_when_nothing_matches():
    _template(code="a")

    assert len(template_variants_get(code="a")) == 1
    with pytest.raises(ApplicationError) as caught:
        template_variants_get(code="a", language="fr")

    assert caught.value.status == 404


def test_version_list_newest_first_and_filtered():
    _template(code="a", versions=2)
    _template(code="a", language="fr", versions=1)

    history = [(v.template.language, v.version) for v in template_version_list(code="a")]
    french = [(v.template.language, v.version) for v in template_version_list(code="a", language="fr")]

    assert history == [("fr", 1), ("en", 2), ("en", 1)]
    assert french == [("fr", 1)]
    with pytest.raises(ApplicationError):
        template_version_list(code="unknown")
