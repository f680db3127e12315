"""Hostile variables end to end: accepted through the API, delivered in process to the file outbox, and
read back as the .eml a mail server would get. CR/LF cannot add headers; HTML variables are escaped in
the HTML part only."""

import email
import email.policy
import uuid
from pathlib import Path

import pytest
from django.test import override_settings

from notifications.delivery import delivery_batch_send
from notifications.providers.base import OutgoingEmail
from notifications.providers.email import email_build
from templates_app.tests.factories import TemplateFactory, TemplateVersionFactory

INJECTION = "Ada\r\nBcc: victim@example.com\r\nX-Injected: yes"
MARKUP = "<script>alert('x')</script> & \"quotes\""


@pytest.fixture
def hostile_template(db):
    template = TemplateFactory(code="hostile", notification_type="email", language="en")
    version = TemplateVersionFactory(
        template=template,
        version=1,
        subject="Welcome {{name}}",
        body="Hi {{name}}: {{markup}}",
        html_body="<p>Hi {{name}}: {{markup}}</p>",
        variables={"required": ["markup", "name"], "optional": []},
    )
    template.active_version = version
    template.save()
    return template


@pytest.fixture
def outbox(tmp_path):
    with override_settings(
        EMAIL_PROVIDERS=["notifications.providers.django_mail.DjangoMailProvider"],
        EMAIL_BACKEND="notifications.providers.mail_outbox.FileOutboxBackend",
        EMAIL_FILE_PATH=str(tmp_path),
    ):
        yield tmp_path


def _deliver(service_client, user, outbox: Path, variables) -> email.message.EmailMessage:
    response = service_client.post(
        "/api/v1/notifications/",
        {
            "notification_type": "email",
            "user_id": str(user.id),
            "template_code": "hostile",
            "variables": variables,
            "request_id": uuid.uuid4().hex,
        },
        format="json",
    )
    assert response.status_code == 202, response.content
    notification_id = response.json()["data"]["notification_id"]

    report = delivery_batch_send(notification_ids=[notification_id], channel="email", worker="test")

    assert report.sent == 1, report
    raw = (outbox / f"{notification_id}.eml").read_bytes()
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_crlf_in_a_variable_cannot_add_email_headers(service_client, user, hostile_template, outbox):
    message = _deliver(service_client, user, outbox, {"name": INJECTION, "markup": "m"})

    assert message["Bcc"] is None
    assert message["X-Injected"] is None
    assert message.get_all("To") == [user.email]
    assert message["Subject"] == "Welcome Ada Bcc: victim@example.com X-Injected: yes"
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]


def test_html_variables_are_escaped_in_the_html_part_only(service_client, user, hostile_template, outbox):
    message = _deliver(service_client, user, outbox, {"name": "Ada", "markup": MARKUP})

    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in html
    assert MARKUP in text


def test_the_email_builder_refuses_a_subject_with_a_line_break():
    """Defence in depth: rendering makes the subject one line; Django's mail refuses one that is not."""
    message = OutgoingEmail(
        notification_id=str(uuid.uuid4()),
        correlation_id="c",
        to="ada@example.com",
        subject="Hi\r\nBcc: victim@example.com",
        body="b",
    )

    with pytest.raises(ValueError, match="newlines"):
        email_build(message).message()
