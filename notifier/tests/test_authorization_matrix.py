"""Who may call what, over every endpoint the URL resolver knows.

The endpoints and their methods are read from the resolver, so an endpoint (or a method) added without a
row in MATRIX fails `test_every_endpoint_has_a_row`. Each row gives the status for five callers:
anonymous, another user, the user who owns the records in the path, an API key, and a staff user.
People carry both a Bearer token (the API) and a session (the admin); the API ignores sessions.
"""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework_api_key.models import APIKey
from rest_framework_simplejwt.tokens import RefreshToken

from notifications.models import (
    Broadcast,
    Notification,
    NotificationStatus,
    Topic,
    TopicSubscription,
    WebhookEndpoint,
)
from templates_app.tests.factories import TemplateFactory, TemplateVersionFactory
from users.tests.factories import DEFAULT_PASSWORD, DeviceFactory, UserFactory, fcm_token

CALLERS = ("anonymous", "other_user", "owner", "api_key", "staff")
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class World:
    owner: Any
    other: Any
    staff: Any
    api_key: str
    device_token: str
    notification: Notification
    broadcast: Broadcast
    webhook: WebhookEndpoint

    def client_for(self, caller: str) -> Client:
        client = Client()
        if caller == "api_key":
            client.defaults["HTTP_X_API_KEY"] = self.api_key
        elif caller != "anonymous":
            person = {"other_user": self.other, "owner": self.owner, "staff": self.staff}[caller]
            client.force_login(person)
            client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {RefreshToken.for_user(person).access_token}"
        return client


@dataclass(frozen=True)
class Row:
    """Expected status per caller (a tuple in CALLERS order; a set where either answer is right)."""

    statuses: tuple[Any, ...]
    path: Callable[[World], str]
    body: Callable[[World], dict[str, Any]] | None = None


def _same(status: Any) -> tuple[Any, ...]:
    return (status,) * len(CALLERS)


def _user(w: World) -> str:
    return f"/api/v1/users/{w.owner.id}"


def _webhook(w: World) -> str:
    return f"/api/v1/webhooks/{w.webhook.id}"


OPEN_200 = _same(200)
KEY_OR_STAFF = (401, 403, 403)  # anonymous, another user, the user
OWNER_KEY_STAFF_200 = (401, 404, 200, 200, 200)

# (route as the resolver spells it, method) -> Row
MATRIX: dict[tuple[str, str], Row] = {
    ("health", "get"): Row(OPEN_200, lambda w: "/health"),
    # 503 when a dependency is down (a broker-outage test may be running): never 401/403.
    ("ready", "get"): Row(_same({200, 503}), lambda w: "/ready"),
    # Prometheus: by client address (METRICS_ALLOWED_IPS, loopback by default), not by API credentials.
    ("metrics", "get"): Row(OPEN_200, lambda w: "/metrics"),
    ("api/schema/", "get"): Row(OPEN_200, lambda w: "/api/schema/"),
    ("api/docs/", "get"): Row(OPEN_200, lambda w: "/api/docs/"),
    ("api/v1/auth/login", "post"): Row(
        OPEN_200,
        lambda w: "/api/v1/auth/login",
        lambda w: {"email": w.owner.email, "password": DEFAULT_PASSWORD},
    ),
    ("api/v1/auth/refresh", "post"): Row(
        OPEN_200,
        lambda w: "/api/v1/auth/refresh",
        lambda w: {"refresh_token": str(RefreshToken.for_user(w.owner))},
    ),
    ("api/v1/users/", "get"): Row((*KEY_OR_STAFF, 200, 200), lambda w: "/api/v1/users/"),
    ("api/v1/users/", "post"): Row(
        (*KEY_OR_STAFF, 201, 201),
        lambda w: "/api/v1/users/",
        lambda w: {"name": "New", "email": f"new-{uuid.uuid4().hex}@example.com", "password": "a-l0ng-pass"},
    ),
    ("api/v1/users/<any_uuid:user_id>", "get"): Row(OWNER_KEY_STAFF_200, _user),
    ("api/v1/users/<any_uuid:user_id>", "patch"): Row(
        OWNER_KEY_STAFF_200, _user, lambda w: {"name": "Renamed"}
    ),
    ("api/v1/users/<any_uuid:user_id>", "delete"): Row(OWNER_KEY_STAFF_200, _user),
    ("api/v1/users/<any_uuid:user_id>/preferences", "get"): Row(
        OWNER_KEY_STAFF_200, lambda w: f"{_user(w)}/preferences"
    ),
    ("api/v1/users/<any_uuid:user_id>/preferences", "patch"): Row(
        OWNER_KEY_STAFF_200, lambda w: f"{_user(w)}/preferences", lambda w: {"push": False}
    ),
    ("api/v1/users/<any_uuid:user_id>/devices", "get"): Row(
        OWNER_KEY_STAFF_200, lambda w: f"{_user(w)}/devices"
    ),
    ("api/v1/users/<any_uuid:user_id>/devices", "post"): Row(
        (401, 404, 201, 201, 201),
        lambda w: f"{_user(w)}/devices",
        lambda w: {"token": fcm_token(99_999), "platform": "ios"},
    ),
    ("api/v1/users/<any_uuid:user_id>/devices/<device_token:token>", "delete"): Row(
        OWNER_KEY_STAFF_200, lambda w: f"{_user(w)}/devices/{w.device_token}"
    ),
    ("api/v1/templates/", "get"): Row((401, 200, 200, 200, 200), lambda w: "/api/v1/templates/"),
    ("api/v1/templates/", "post"): Row(
        (*KEY_OR_STAFF, 201, 201),
        lambda w: "/api/v1/templates/",
        lambda w: {
            "code": "welcome",
            "language": "en",
            "notification_type": "email",
            "subject": "Hi {{name}}",
            "body": "Hello {{name}}",
        },
    ),
    ("api/v1/templates/render", "post"): Row(
        (401, 200, 200, 200, 200),
        lambda w: "/api/v1/templates/render",
        lambda w: {"template_code": "welcome", "variables": {"name": "Ada"}},
    ),
    ("api/v1/templates/<slug:code>", "get"): Row(
        (401, 200, 200, 200, 200), lambda w: "/api/v1/templates/welcome"
    ),
    ("api/v1/templates/<slug:code>/versions", "get"): Row(
        (401, 200, 200, 200, 200), lambda w: "/api/v1/templates/welcome/versions"
    ),
    ("api/v1/templates/<slug:code>/activate", "post"): Row(
        (*KEY_OR_STAFF, 200, 200),
        lambda w: "/api/v1/templates/welcome/activate",
        lambda w: {"version": 1, "language": "en"},
    ),
    # Cancel: keys and staff only. The world's notification was sent: past cancelling, so 409 once allowed.
    ("api/v1/notifications/<str:notification_id>/cancel", "post"): Row(
        (*KEY_OR_STAFF, 409, 409), lambda w: f"/api/v1/notifications/{w.notification.id}/cancel"
    ),
    ("api/v1/broadcasts/<str:broadcast_id>/cancel", "post"): Row(
        (*KEY_OR_STAFF, 200, 200), lambda w: f"/api/v1/broadcasts/{w.broadcast.id}/cancel"
    ),
    # Everyone authenticated may list; a user sees only their own (test_a_user_lists_only_their_own).
    ("api/v1/notifications/", "get"): Row((401, 200, 200, 200, 200), lambda w: "/api/v1/notifications/"),
    ("api/v1/notifications/", "post"): Row(
        (*KEY_OR_STAFF, 202, 202),
        lambda w: "/api/v1/notifications/",
        lambda w: {
            "notification_type": "email",
            "user_id": str(w.owner.id),
            "template_code": "welcome",
            "variables": {"name": "Ada"},
            "request_id": f"matrix-{uuid.uuid4().hex}",
        },
    ),
    ("api/v1/notifications/batch", "post"): Row(
        (*KEY_OR_STAFF, 200, 200),
        lambda w: "/api/v1/notifications/batch",
        lambda w: {
            "notifications": [
                {
                    "notification_type": "email",
                    "user_id": str(w.owner.id),
                    "template_code": "welcome",
                    "variables": {"name": "Ada"},
                    "request_id": f"matrix-{uuid.uuid4().hex}",
                }
            ]
        },
    ),
    ("api/v1/notifications/<str:notification_id>", "get"): Row(
        OWNER_KEY_STAFF_200, lambda w: f"/api/v1/notifications/{w.notification.id}"
    ),
    ("api/v1/email/status/", "post"): Row(
        (*KEY_OR_STAFF, 200, 200),
        lambda w: "/api/v1/email/status/",
        lambda w: {"notification_id": str(w.notification.id), "status": "delivered"},
    ),
    ("api/v1/push/status/", "post"): Row(
        (*KEY_OR_STAFF, 404, 404),  # the notification is an email: the push callback does not know it
        lambda w: "/api/v1/push/status/",
        lambda w: {"notification_id": str(w.notification.id), "status": "delivered"},
    ),
    ("api/v1/broadcasts/", "get"): Row((*KEY_OR_STAFF, 200, 200), lambda w: "/api/v1/broadcasts/"),
    ("api/v1/broadcasts/<str:broadcast_id>", "get"): Row(
        (*KEY_OR_STAFF, 200, 200), lambda w: f"/api/v1/broadcasts/{w.broadcast.id}"
    ),
    # Topics and their subscribers: keys and staff only, so no user can put anyone into a topic.
    ("api/v1/topics/", "get"): Row((*KEY_OR_STAFF, 200, 200), lambda w: "/api/v1/topics/"),
    ("api/v1/topics/", "post"): Row(
        (*KEY_OR_STAFF, 201, 201),
        lambda w: "/api/v1/topics/",
        lambda w: {"key": f"t-{uuid.uuid4().hex}", "name": "New topic"},
    ),
    ("api/v1/topics/<slug:key>", "get"): Row((*KEY_OR_STAFF, 200, 200), lambda w: "/api/v1/topics/news"),
    ("api/v1/topics/<slug:key>", "patch"): Row(
        (*KEY_OR_STAFF, 200, 200), lambda w: "/api/v1/topics/news", lambda w: {"name": "Renamed"}
    ),
    ("api/v1/topics/<slug:key>", "delete"): Row((*KEY_OR_STAFF, 200, 200), lambda w: "/api/v1/topics/news"),
    ("api/v1/topics/<slug:key>/subscribers", "get"): Row(
        (*KEY_OR_STAFF, 200, 200), lambda w: "/api/v1/topics/news/subscribers"
    ),
    ("api/v1/topics/<slug:key>/subscribers", "post"): Row(
        (*KEY_OR_STAFF, 200, 200),
        lambda w: "/api/v1/topics/news/subscribers",
        lambda w: {"user_ids": [str(w.owner.id), str(w.other.id)]},
    ),
    ("api/v1/topics/<slug:key>/subscribers", "delete"): Row(
        (*KEY_OR_STAFF, 200, 200),
        lambda w: "/api/v1/topics/news/subscribers",
        lambda w: {"user_ids": [str(w.owner.id)]},
    ),
    # A user lists and leaves their own topics.
    ("api/v1/users/<any_uuid:user_id>/topics", "get"): Row(
        OWNER_KEY_STAFF_200, lambda w: f"{_user(w)}/topics"
    ),
    ("api/v1/users/<any_uuid:user_id>/topics/<slug:key>", "delete"): Row(
        OWNER_KEY_STAFF_200, lambda w: f"{_user(w)}/topics/news"
    ),
    # Status webhook endpoints: keys and staff only (a user never learns where events go, or a secret).
    ("api/v1/webhooks/", "get"): Row((*KEY_OR_STAFF, 200, 200), lambda w: "/api/v1/webhooks/"),
    ("api/v1/webhooks/", "post"): Row(
        (*KEY_OR_STAFF, 201, 201),
        lambda w: "/api/v1/webhooks/",
        lambda w: {"url": "http://127.0.0.1:9/hooks", "events": ["notification.sent"]},
    ),
    ("api/v1/webhooks/<str:endpoint_id>", "get"): Row((*KEY_OR_STAFF, 200, 200), _webhook),
    ("api/v1/webhooks/<str:endpoint_id>", "patch"): Row(
        (*KEY_OR_STAFF, 200, 200), _webhook, lambda w: {"description": "changed"}
    ),
    ("api/v1/webhooks/<str:endpoint_id>", "delete"): Row((*KEY_OR_STAFF, 200, 200), _webhook),
    ("api/v1/webhooks/<str:endpoint_id>/rotate-secret", "post"): Row(
        (*KEY_OR_STAFF, 200, 200), lambda w: f"{_webhook(w)}/rotate-secret"
    ),
    ("api/v1/webhooks/<str:endpoint_id>/events", "get"): Row(
        (*KEY_OR_STAFF, 200, 200), lambda w: f"{_webhook(w)}/events"
    ),
    # Public by nature: a browser page subscribes with it before anyone logs in (404 when not configured).
    ("api/v1/web-push/vapid-public-key", "get"): Row(
        _same({200, 404}), lambda w: "/api/v1/web-push/vapid-public-key"
    ),
    # The admin: staff sessions only; everyone else is sent to its login page. The API key is no session.
    ("admin/", "admin"): Row((302, 302, 302, 302, 200), lambda w: "/admin/"),
    # Its login page (rate limited, see users.admin_login): shown to all; staff already in go on in.
    ("admin/login/", "get"): Row((200, 200, 200, 200, 302), lambda w: "/admin/login/"),
}


def _methods_of(pattern: URLPattern) -> list[str]:
    view = pattern.callback
    view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
    if view_class is not None:
        return [m for m in HTTP_METHODS if hasattr(view_class, m)]
    allowed = getattr(view, "allowed_methods", None)  # not set by require_GET; its docstring says GET
    return [m.lower() for m in allowed] if allowed else ["get"]


def _endpoints(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                yield route, "admin"  # the admin's many views are one row: it guards them all alike
                continue
            yield from _endpoints(entry.url_patterns, route)
        else:
            for method in _methods_of(entry):
                yield route, method


def test_every_endpoint_has_a_row():
    endpoints = set(_endpoints(get_resolver().url_patterns))

    assert endpoints - MATRIX.keys() == set(), "endpoints without a row in the authorization matrix"
    assert MATRIX.keys() - endpoints == set(), "rows for endpoints that no longer exist"


@pytest.fixture
def world(db, settings) -> World:
    # Argon2 is slow by design; 150 tests each hashing three passwords do not need it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.METRICS_TOKEN = ""
    owner = UserFactory()
    device = DeviceFactory(user=owner)
    template = TemplateFactory(code="welcome", notification_type="email", language="en")
    version = TemplateVersionFactory(template=template, version=1)
    template.active_version = version
    template.save()
    notification = Notification.objects.create(
        caller="key:matrix",
        request_id="matrix-1",
        request_hash="0" * 64,
        user=owner,
        notification_type="email",
        template_code="welcome",
        variables={"name": "Ada"},
        status=NotificationStatus.SENT,
    )
    topic = Topic.objects.create(key="news", name="News")
    TopicSubscription.objects.create(topic=topic, user=owner)
    broadcast = Broadcast.objects.create(
        caller="key:matrix", request_id="matrix-b", request_hash="0" * 64, topic=topic, topic_key="news",
        notification_type="email", template_code="welcome", recipients=1,
    )  # fmt: skip
    _, key = APIKey.objects.create_key(name="matrix")
    return World(
        owner=owner,
        other=UserFactory(),
        staff=UserFactory(is_staff=True),
        api_key=key,
        device_token=device.token,
        notification=notification,
        broadcast=broadcast,
        webhook=WebhookEndpoint.objects.create(
            url="http://127.0.0.1:9/hooks", events=["notification.sent"], secret="whsec_" + "A" * 44
        ),
    )


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("route", "method"), sorted(MATRIX), ids=lambda v: str(v))
def test_authorization(world, route, method, caller):
    row = MATRIX[(route, method)]
    expected = row.statuses[CALLERS.index(caller)]
    client = world.client_for(caller)
    http_method = "get" if method == "admin" else method
    kwargs: dict[str, Any] = {}
    if row.body is not None:
        kwargs = {"data": row.body(world), "content_type": "application/json"}

    response = getattr(client, http_method)(row.path(world), **kwargs)

    allowed = expected if isinstance(expected, set) else {expected}
    assert response.status_code in allowed, (caller, route, method, response.content[:300])


def test_a_user_lists_only_their_own_notifications(world):
    mine = world.client_for("owner").get("/api/v1/notifications/").json()["data"]
    theirs = (
        world.client_for("other_user")
        .get("/api/v1/notifications/", {"user_id": str(world.owner.id)})
        .json()["data"]
    )

    assert [n["notification_id"] for n in mine] == [str(world.notification.id)]
    assert theirs == []


def test_the_admin_sends_non_staff_to_its_login_page(world):
    response = world.client_for("owner").get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
