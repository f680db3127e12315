import pytest
from django.test import Client
from django.urls import reverse

from templates_app.models import Template, TemplateVersion
from templates_app.services import template_create_or_version
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _seed(**overrides) -> TemplateVersion:
    fields = {
        "code": "welcome",
        "language": "en",
        "notification_type": "email",
        "subject": "Hi {{user.name}}",
        "body": "Order {{order}}{{#vip}} (VIP){{/vip}}",
        "html_body": "<p>Order {{order}}</p>",
    }
    return template_create_or_version(**{**fields, **overrides})


def test_template_changelist_renders(superuser_client):
    _seed()

    response = superuser_client.get(reverse("admin:templates_app_template_changelist"))

    assert response.status_code == 200
    assert b"welcome" in response.content


def test_template_change_page_shows_the_version_history_read_only(superuser_client):
    _seed(subject="first {{user.name}}")
    _seed(subject="second {{user.name}}")
    template = Template.objects.get()

    response = superuser_client.get(reverse("admin:templates_app_template_change", args=[template.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert "first {{user.name}}" in content
    assert "second {{user.name}}" in content
    formset = response.context["inline_admin_formsets"][0]
    assert formset.has_add_permission is False
    assert formset.has_change_permission is False
    assert formset.has_delete_permission is False
    assert 'name="versions-0-subject"' not in content  # shown as text, not as an input


def test_template_cannot_be_added_in_the_admin(superuser_client):
    response = superuser_client.get(reverse("admin:templates_app_template_add"))

    assert response.status_code == 403


def test_template_description_can_be_edited_without_touching_versions(superuser_client):
    version = _seed()
    template = Template.objects.get()

    response = superuser_client.post(
        reverse("admin:templates_app_template_change", args=[template.pk]),
        {
            "description": "Edited",
            "versions-TOTAL_FORMS": "1",
            "versions-INITIAL_FORMS": "1",
            "versions-MIN_NUM_FORMS": "0",
            "versions-MAX_NUM_FORMS": "1000",
            "versions-0-id": str(version.pk),
            "versions-0-template": str(template.pk),
        },
    )

    assert response.status_code == 302
    template.refresh_from_db()
    assert template.description == "Edited"
    assert list(TemplateVersion.objects.values_list("version", "subject")) == [(1, "Hi {{user.name}}")]


def test_version_page_shows_a_rendered_preview_with_sample_variables(superuser_client):
    version = _seed()

    response = superuser_client.get(reverse("admin:templates_app_templateversion_change", args=[version.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert "Hi [user.name]" in content
    assert "Order [order]" in content
    # html_body is rendered (escaped by the template engine) and shown as source, escaped again by the admin.
    assert "&lt;p&gt;Order [order]&lt;/p&gt;" in content
    assert 'name="subject"' not in content  # view-only: no form inputs for the version's fields


def test_version_preview_of_an_empty_variable_set(superuser_client):
    version = _seed(subject="Static", body="No variables", html_body="")

    response = superuser_client.get(reverse("admin:templates_app_templateversion_change", args=[version.pk]))

    assert response.status_code == 200
    assert "No variables" in response.content.decode()


def test_versions_cannot_be_changed_or_added_in_the_admin(superuser_client):
    version = _seed()

    posted = superuser_client.post(
        reverse("admin:templates_app_templateversion_change", args=[version.pk]), {"subject": "hacked"}
    )
    added = superuser_client.get(reverse("admin:templates_app_templateversion_add"))

    assert posted.status_code == 403
    assert added.status_code == 403
    version.refresh_from_db()
    assert version.subject == "Hi {{user.name}}"


def test_version_changelist_activate_action_goes_through_the_service(superuser_client):
    first = _seed()
    _seed()

    response = superuser_client.post(
        reverse("admin:templates_app_templateversion_changelist"),
        {"action": "activate", "_selected_action": [str(first.pk)]},
    )

    assert response.status_code == 302
    assert Template.objects.get().active_version_id == first.id


def test_version_activate_action_refuses_several_versions(superuser_client):
    first = _seed()
    second = _seed()

    superuser_client.post(
        reverse("admin:templates_app_templateversion_changelist"),
        {"action": "activate", "_selected_action": [str(first.pk), str(second.pk)]},
    )

    assert Template.objects.get().active_version_id == second.id


def test_staff_without_permissions_cannot_see_templates():
    client = Client()
    client.force_login(UserFactory(is_staff=True))
    _seed()

    response = client.get(reverse("admin:templates_app_template_changelist"))

    assert response.status_code == 403


def test_a_new_version_is_written_from_the_admin_through_the_service_and_named_in_the_history(
    superuser_client,
):
    from django.contrib.admin.models import LogEntry

    first = _seed(subject="Hi {{user.name}}")
    url = reverse("admin:templates_app_template_new_version", args=[first.template.pk])

    form = superuser_client.get(url)
    response = superuser_client.post(
        url,
        {"subject": "Welcome {{user.name}}", "body": "Order {{order}}", "html_body": "", "description": "v2"},
    )

    assert form.context["form"].initial["subject"] == "Hi {{user.name}}"
    assert "image_url" not in form.context["form"].fields  # an email template's fields only
    second = TemplateVersion.objects.get(template=first.template, version=2)
    assert response.status_code == 302 and response["Location"].endswith(f"/{second.pk}/change/")
    assert Template.objects.get().active_version == second
    assert {entry.change_message for entry in LogEntry.objects.all()} == {
        "Version 2 written; it is now active.", "Version 2 written and activated."
    }  # fmt: skip


def test_a_new_version_the_service_refuses_shows_why_and_writes_nothing(superuser_client):
    first = _seed()
    url = reverse("admin:templates_app_template_new_version", args=[first.template.pk])

    response = superuser_client.post(url, {"subject": "Hi {{#open}}", "body": "x", "description": ""})

    assert response.status_code == 200
    assert response.context["form"].errors["subject"]
    assert TemplateVersion.objects.count() == 1


def test_a_version_page_shows_its_changes_and_activating_an_older_one_is_recorded(superuser_client):
    from django.contrib.admin.models import LogEntry

    first = _seed(subject="Hi {{user.name}}")
    second = _seed(subject="Welcome {{user.name}}")
    page = superuser_client.get(reverse("admin:templates_app_templateversion_change", args=[second.pk]))
    older = superuser_client.get(reverse("admin:templates_app_templateversion_change", args=[first.pk]))

    response = superuser_client.post(reverse("admin:templates_app_templateversion_activate", args=[first.pk]))

    content = page.content.decode()
    assert 'class="diff"' in content and "version 1" in content and "Welcome" in content
    assert 'id="activate-version"' not in content  # the active one
    assert 'id="activate-version"' in older.content.decode()
    assert response.status_code == 302
    assert Template.objects.get().active_version == first
    [entry] = LogEntry.objects.all()
    assert entry.change_message == "Version 1 activated." and entry.user.is_superuser


def test_activating_needs_the_change_permission(db):
    staff = UserFactory(is_staff=True)
    client = Client()
    client.force_login(staff)
    first = _seed()
    _seed(subject="second {{user.name}}")

    response = client.post(reverse("admin:templates_app_templateversion_activate", args=[first.pk]))

    assert response.status_code == 403
    assert Template.objects.get().active_version.version == 2
