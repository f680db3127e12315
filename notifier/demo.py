"""The demo data `make run` seeds (notifications/services/demo.py), named once: the API schema's examples
use the same values, so Swagger UI's "Try it out" works as it is on a freshly seeded system."""

import uuid

DEMO_ADMIN_EMAIL = "admin@notifier.local"
DEMO_RECIPIENT_ID = uuid.UUID("5eedda7a-0000-4000-8000-000000000ada")
DEMO_RECIPIENT_EMAIL = "ada@example.com"
DEMO_DEVICE_TOKEN = "demo-device-token"  # noqa: S105 - a placeholder device token, not a secret
DEMO_TOPIC = "product-news"
DEMO_EMAIL_TEMPLATE = "welcome"
DEMO_PUSH_TEMPLATE = "alert"
