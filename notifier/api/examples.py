"""Examples of the API's requests and answers for the schema (Swagger UI shows them and "Try it out" sends
the request examples as they are): the demo data's names and ids, so they work on a freshly seeded system.
Answers are shown as their `data`; the schema hook puts them in the envelope. A test sends every request
example to the API and checks each answer example against its schema."""

from typing import Any

from drf_spectacular.utils import OpenApiExample

from notifier.demo import DEMO_DEVICE_TOKEN, DEMO_EMAIL_TEMPLATE, DEMO_RECIPIENT_ID, DEMO_TOPIC


def examples(
    *, request: Any = None, response: Any = None, status: int = 200, repeat_status: int | None = None
) -> list[OpenApiExample]:
    """An operation's request example and its success answer's `data`; `repeat_status` is the status of
    the same request sent again (the same answer)."""
    found = []
    if request is not None:
        found.append(OpenApiExample("Request", value=request, request_only=True))
    if response is not None:
        found.append(OpenApiExample("Answer", value=response, response_only=True, status_codes=[str(status)]))
    if repeat_status is not None:
        found.append(
            OpenApiExample("Repeat", value=response, response_only=True, status_codes=[str(repeat_status)])
        )
    return found


# Path parameters that name demo data, as Swagger UI pre-fills them.
PATH_EXAMPLES: dict[str, str] = {
    "user_id": str(DEMO_RECIPIENT_ID),
    "code": DEMO_EMAIL_TEMPLATE,
    "key": DEMO_TOPIC,
    "token": DEMO_DEVICE_TOKEN,
}

USER_ID = str(DEMO_RECIPIENT_ID)
NOTIFICATION_ID = "0b7e6f3c-2d1a-4e5f-9a8b-7c6d5e4f3a2b"
BROADCAST_ID = "6a5b4c3d-2e1f-4a0b-8c9d-0e1f2a3b4c5d"
AT = "2026-12-01T09:30:00.120000Z"
LATER = "2026-12-01T09:30:01.480000Z"

SEND_REQUEST = {
    "notification_type": "email",
    "user_id": USER_ID,
    "template_code": DEMO_EMAIL_TEMPLATE,
    "variables": {"name": "Ada", "app": "notifier"},
    "request_id": "signup-5eedda7a-welcome",
}
SEND_ACCEPTED = {
    "notification_id": NOTIFICATION_ID,
    "request_id": "signup-5eedda7a-welcome",
    "status": "pending",
}
BATCH_REQUEST = {
    "notifications": [
        {**SEND_REQUEST, "request_id": "digest-2026-12-01-ada"},
        {
            "notification_type": "push",
            "user_id": USER_ID,
            "template_code": "alert",
            "variables": {"title": "Build passed", "message": "main is green"},
            "request_id": "ci-build-4711",
        },
    ]
}
BATCH_ANSWER = [
    {"index": 0, "request_id": "digest-2026-12-01-ada", "notification_id": NOTIFICATION_ID,
     "status": "pending", "http_status": 202, "error": None, "message": "Accepted", "data": None},
    {"index": 1, "request_id": "ci-build-4711", "notification_id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
     "status": "pending", "http_status": 202, "error": None, "message": "Accepted", "data": None},
]  # fmt: skip

NOTIFICATION = {
    "notification_id": NOTIFICATION_ID,
    "request_id": "signup-5eedda7a-welcome",
    "user_id": USER_ID,
    "notification_type": "email",
    "template_code": DEMO_EMAIL_TEMPLATE,
    "template_version": 1,
    "language": "en",
    "priority": 5,
    "lane": "normal",
    "status": "sent",
    "error": "",
    "attempts": 1,
    "correlation_id": "3f2e1d0c9b8a4f7e8d6c5b4a39281706",
    "metadata": {},
    "provider_message_id": f"<{NOTIFICATION_ID}@notifier.local>",
    "created_at": AT,
    "queued_at": AT,
    "sent_at": LATER,
    "delivered_at": None,
    "failed_at": None,
    "send_at": None,
    "expires_at": "2026-12-02T09:30:00.120000Z",
    "cancelled_at": None,
    "cancelled_by": "",
    "updated_at": LATER,
}
NOTIFICATION_DETAIL = {
    **NOTIFICATION,
    "delivery_attempts": [
        {"number": 1, "worker": "email@host-1", "outcome": "sent", "error_class": "", "error_message": "",
         "provider": "smtp", "provider_message_id": f"<{NOTIFICATION_ID}@notifier.local>",
         "template_version": 1, "started_at": AT, "finished_at": LATER},
    ],
}  # fmt: skip
NOTIFICATION_CANCELLED = {
    **NOTIFICATION,
    "status": "cancelled",
    "sent_at": None,
    "send_at": "2026-12-01T18:00:00Z",
    "cancelled_at": LATER,
    "cancelled_by": "api_key:billing-service",
    "attempts": 0,
    "provider_message_id": "",
}
STATUS_REPORT_REQUEST = {"notification_id": NOTIFICATION_ID, "status": "delivered", "timestamp": LATER}

BROADCAST_REQUEST = {
    "notification_type": "email",
    "topic": DEMO_TOPIC,
    "template_code": DEMO_EMAIL_TEMPLATE,
    "variables": {"name": "there", "app": "notifier"},
    "request_id": "release-2026-12",
}
BROADCAST = {
    "broadcast_id": BROADCAST_ID,
    "request_id": "release-2026-12",
    "topic": DEMO_TOPIC,
    "notification_type": "email",
    "template_code": DEMO_EMAIL_TEMPLATE,
    "language": "",
    "priority": 5,
    "lane": "bulk",
    "metadata": {},
    "status": "complete",
    "recipients": 1,
    "notifications_created": 1,
    "correlation_id": "7d6c5b4a39281706f5e4d3c2b1a09f8e",
    "send_at": None,
    "expires_at": None,
    "created_at": AT,
    "updated_at": LATER,
    "completed_at": LATER,
    "cancelled_at": None,
    "cancelled_by": "",
}
BROADCAST_DETAIL = {**BROADCAST, "notifications_by_status": {"sent": 1}}

USER = {
    "id": USER_ID,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "preferences": {"email": True, "push": True},
    "language": "",
    "is_staff": False,
    "is_active": True,
    "created_at": AT,
    "updated_at": AT,
    "devices": [
        {"token": DEMO_DEVICE_TOKEN, "platform": "android", "kind": "fcm", "active": True, "last_seen": AT,
         "created_at": AT},
    ],
}  # fmt: skip
USER_CREATE_REQUEST = {
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "password": "cobol-1959-compiler",
}
USER_CREATED = {
    **USER,
    "id": "9e8d7c6b-5a49-4382-a716-05f4e3d2c1b0",
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "devices": [],
}
USER_UPDATE_REQUEST = {"name": "Ada King", "preferences": {"push": False}}
PREFERENCES = {"email": True, "push": False}
DEVICE_REQUEST = {"token": "fcm-token-of-ada-s-phone-7f3a9c", "platform": "android"}
DEVICE = {
    "token": "fcm-token-of-ada-s-phone-7f3a9c",
    "platform": "android",
    "kind": "fcm",
    "active": True,
    "last_seen": AT,
    "created_at": AT,
}
LOGIN_REQUEST = {"email": "ada@example.com", "password": "the-password-she-chose"}
TOKEN_PAIR = {
    "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiNWVlZGRhN2EifQ.c2lnbmF0dXJl",
    "refresh_token": "eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl",
    "token_type": "Bearer",
    "expires_in": 900,
}
REFRESH_REQUEST = {"refresh_token": TOKEN_PAIR["refresh_token"]}

TOPIC = {
    "key": DEMO_TOPIC,
    "name": "Product news",
    "description": "Demo topic: announcements to every subscriber",
    "subscribers": 1,
    "created_at": AT,
    "updated_at": AT,
}
TOPIC_CREATE_REQUEST = {
    "key": "incidents",
    "name": "Incidents",
    "description": "Outages and their resolution",
}
TOPIC_CREATED = {**TOPIC, **TOPIC_CREATE_REQUEST, "subscribers": 0}
TOPIC_UPDATE_REQUEST = {"description": "Releases and announcements"}
TOPIC_SUBSCRIBER = {"user_id": USER_ID, "subscribed_at": AT}
SUBSCRIBERS_REQUEST = {"user_ids": [USER_ID]}
SUBSCRIBERS_CHANGE = {"requested": 1, "changed": 1, "subscribers": 1}
USER_TOPIC = {
    "key": DEMO_TOPIC,
    "name": "Product news",
    "description": "Demo topic: announcements to every subscriber",
    "subscribed_at": AT,
}

TEMPLATE_VARIANT = {
    "code": DEMO_EMAIL_TEMPLATE,
    "language": "en",
    "notification_type": "email",
    "description": "Welcome email",
    "active_version": 1,
    "versions_count": 1,
    "subject": "Welcome {{name}}",
    "body": "Hi {{name}}, welcome to {{app}}.",
    "html_body": "<p>Hi {{name}}, welcome to {{app}}.</p>",
    "image_url": "",
    "link": "",
    "variables": {"required": ["app", "name"], "optional": []},
    "created_at": AT,
    "updated_at": AT,
}
TEMPLATE_CREATE_REQUEST = {
    "code": DEMO_EMAIL_TEMPLATE,
    "language": "en",
    "notification_type": "email",
    "subject": "Welcome aboard, {{name}}",
    "body": "Hi {{name}}, your {{app}} account is ready.",
    "html_body": "<p>Hi {{name}}, your {{app}} account is ready.</p>",
    "description": "Welcome email, friendlier subject",
}
TEMPLATE_VERSION = {
    "code": DEMO_EMAIL_TEMPLATE,
    "language": "en",
    "notification_type": "email",
    "version": 2,
    "subject": "Welcome aboard, {{name}}",
    "body": "Hi {{name}}, your {{app}} account is ready.",
    "html_body": "<p>Hi {{name}}, your {{app}} account is ready.</p>",
    "image_url": "",
    "link": "",
    "description": "Welcome email, friendlier subject",
    "variables": {"required": ["app", "name"], "optional": []},
    "is_active": True,
    "created_at": AT,
}
TEMPLATE_DETAIL = {"code": DEMO_EMAIL_TEMPLATE, "variants": [TEMPLATE_VARIANT]}
TEMPLATE_ACTIVATE_REQUEST = {"version": 1, "language": "en", "notification_type": "email"}
TEMPLATE_RENDER_REQUEST = {
    "template_code": DEMO_EMAIL_TEMPLATE,
    "notification_type": "email",
    "language": "en",
    "variables": {"name": "Ada", "app": "notifier"},
}
RENDERED_TEMPLATE = {
    "subject": "Welcome Ada",
    "body": "Hi Ada, welcome to notifier.",
    "html_body": "<p>Hi Ada, welcome to notifier.</p>",
    "image_url": "",
    "link": "",
    "version": 1,
    "language": "en",
}

WEBHOOK_CREATE_REQUEST = {
    "url": "https://hooks.example.com/notifier",
    "events": ["notification.sent", "notification.failed"],
    "description": "Billing service: delivery outcomes",
}
WEBHOOK_ENDPOINT = {
    "id": 1,
    "url": "https://hooks.example.com/notifier",
    "description": "Billing service: delivery outcomes",
    "events": ["notification.sent", "notification.failed"],
    "max_events_per_request": 1,
    "is_active": True,
    "disabled_reason": "",
    "disabled_at": None,
    "failing_since": None,
    "secret_prefix": "whsec_MfKQ",
    "previous_secret_valid_until": None,
    "created_by": "api_key:billing-service",
    "created_at": AT,
    "updated_at": AT,
}
WEBHOOK_WITH_SECRET = {**WEBHOOK_ENDPOINT, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
WEBHOOK_UPDATE_REQUEST = {"is_active": False}
WEBHOOK_EVENT = {
    "id": 17,
    "event_type": "notification.sent",
    "notification_id": NOTIFICATION_ID,
    "broadcast_id": None,
    "state": "delivered",
    "attempts": 1,
    "last_error": "",
    "created_at": LATER,
    "delivered_at": "2026-12-01T09:30:01.900000Z",
    "payload": {
        "type": "notification.sent",
        "timestamp": LATER,
        "data": {"notification_id": NOTIFICATION_ID, "status": "sent", "channel": "email"},
    },
}
VAPID_PUBLIC_KEY = {
    "public_key": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
}
