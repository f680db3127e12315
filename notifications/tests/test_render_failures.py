"""What rendering does to a delivery, end to end with real workers: a render that fails for any reason
ends the notification failed with its reason and an attempt row; push data travels as JSON text."""

import json
import time

import pytest

from notifications.channels import Channel
from notifications.models import AttemptOutcome, Notification, NotificationStatus
from notifications.tests.conftest import queue_depth
from standins.boundary import wait_for
from templates_app.tests.factories import TemplateFactory, TemplateVersionFactory
from users.tests.factories import DeviceFactory, UserFactory

pytestmark = [pytest.mark.workers, pytest.mark.timeout(180)]


def _template(notification_type: str, code: str, **fields):
    template = TemplateFactory(code=code, notification_type=notification_type, language="en")
    version = TemplateVersionFactory(template=template, version=1, html_body="", **fields)
    template.active_version = version
    template.save()
    return template


def _send(client, user, **body):
    response = client.post(
        "/api/v1/notifications/",
        {"user_id": str(user.id), "request_id": f"req-{time.time_ns()}", **body},
        format="json",
    )
    assert response.status_code == 202, response.json()
    return response.json()["data"]["notification_id"]


def _failed(notification_id: str) -> Notification:
    wait_for(
        lambda: Notification.objects.get(pk=notification_id).status == NotificationStatus.FAILED,
        timeout=60,
        message="the notification to fail",
    )
    return Notification.objects.get(pk=notification_id)


def test_a_render_past_the_output_bound_fails_with_its_reason_and_an_attempt(
    pipeline, service_client, smtp_server
):
    _template(
        "email",
        "digest",
        subject="Digest",
        body="{{#items}}" + "x" * 20_000 + "{{/items}}",
        variables={"required": [], "optional": ["items"]},
    )
    user = UserFactory()

    notification_id = _send(
        service_client,
        user,
        notification_type="email",
        template_code="digest",
        variables={"items": list(range(200))},
    )

    notification = _failed(notification_id)
    assert notification.error == "render error: The rendered body is longer than 2000000 characters."
    [attempt] = notification.delivery_attempts.all()
    assert (attempt.outcome, attempt.error_class) == (
        AttemptOutcome.PERMANENT_ERROR,
        "TemplateRenderLimitError",
    )
    assert notification.attempts == 1
    wait_for(lambda: queue_depth(Channel("email").dlq) == 1, message="the dead letter")
    assert smtp_server.handler.messages_for(notification_id) == []


def test_a_link_that_renders_to_javascript_fails_and_nothing_is_pushed(pipeline, service_client, fcm_server):
    _template(
        "push",
        "promo",
        subject="Offer",
        body="Tap to see",
        link="{{target}}",
        variables={"required": ["target"], "optional": []},
    )
    user = UserFactory()
    DeviceFactory(user=user)

    notification_id = _send(
        service_client,
        user,
        notification_type="push",
        template_code="promo",
        variables={"target": "javascript:alert(document.cookie)"},
    )

    notification = _failed(notification_id)
    assert notification.error == "render error: The rendered link is not an http(s) URL."
    assert [a.outcome for a in notification.delivery_attempts.all()] == [AttemptOutcome.PERMANENT_ERROR]
    assert fcm_server.state.sent_for(notification_id) == []


def test_push_data_objects_and_lists_travel_as_json_text(pipeline, service_client, fcm_server, push_template):
    user = UserFactory()
    DeviceFactory(user=user)

    notification_id = _send(
        service_client,
        user,
        notification_type="push",
        template_code="alert",
        variables={"name": "Ada", "message": "Order shipped"},
        metadata={"order": {"id": 7, "items": ["book"]}, "tags": ["a", "b"], "urgent": True, "note": None},
    )

    wait_for(lambda: fcm_server.state.sent_for(notification_id), timeout=60, message="the push")
    [sent] = fcm_server.state.sent_for(notification_id)
    data = sent["message"]["data"]
    assert json.loads(data["order"]) == {"id": 7, "items": ["book"]}
    assert json.loads(data["tags"]) == ["a", "b"]
    assert (data["urgent"], data["note"]) == ("true", "")
