"""Schemathesis against /api/schema/, in process through the WSGI app, on the real PostgreSQL, Redis
and RabbitMQ: every operation, 100 generated cases each (valid and invalid), as an API key and as a
user. No 5xx; every status, header and body conforms to the schema; invalid input is refused."""

import re
import uuid

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework_api_key.models import APIKey
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.specs.openapi.checks import positive_data_acceptance

from templates_app.tests.factories import TemplateFactory, TemplateVersionFactory
from users.tests.factories import DeviceFactory, UserFactory

pytestmark = pytest.mark.fuzz

# Known records, so that generated path parameters sometimes name something that exists.
USER_ID = uuid.UUID("00000000-0000-4000-8000-00000000f022")
NOTIFICATION_ID = uuid.UUID("00000000-0000-4000-8000-00000000f023")
TEMPLATE_CODE = "welcome"
WEBHOOK_ID = 4242
DEVICE_TOKEN = "fuzz-device:APA91b" + "x" * 40

application = get_wsgi_application()
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# A body over API_MAX_BODY_BYTES is refused with 413 (documented) before it is read: a rejection too.
schema.config.checks.negative_data_rejection.expected_statuses.append("413")

FUZZ_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

KNOWN_PATH_VALUES = {
    "user_id": str(USER_ID),
    "notification_id": str(NOTIFICATION_ID),
    "code": TEMPLATE_CODE,
    "token": DEVICE_TOKEN,
    "endpoint_id": str(WEBHOOK_ID),
}


def _is_valid(name: str, value: object) -> bool:
    """Whether a generated path value is well-formed (a positive case); negative ones stay as they are."""
    if not isinstance(value, str):
        return False
    if name in ("user_id", "notification_id"):
        try:
            uuid.UUID(value)
        except ValueError:
            return False
        return True
    return re.fullmatch(r"[A-Za-z0-9_:\-]+", value) is not None


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the time, a record that exists instead of a random one (a 404), so both paths are exercised."""
    if not path_parameters or not all(_is_valid(k, v) for k, v in path_parameters.items()):
        return st.just(path_parameters)
    known = {name: KNOWN_PATH_VALUES.get(name, value) for name, value in path_parameters.items()}
    return st.sampled_from([path_parameters, known])


@pytest.fixture
def world(transactional_db):
    """An API key, a user with a device, an email template and a notification; committed, like production."""
    from notifications.models import Notification, WebhookEndpoint

    _, key = APIKey.objects.create_key(name="fuzz")
    user = UserFactory(id=USER_ID)
    DeviceFactory(user=user, token=DEVICE_TOKEN)
    template = TemplateFactory(code=TEMPLATE_CODE, notification_type="email", language="en")
    version = TemplateVersionFactory(template=template, version=1)
    template.active_version = version
    template.save()
    Notification.objects.create(
        id=NOTIFICATION_ID,
        caller="key:fuzz",
        request_id="fuzz-1",
        request_hash="0" * 64,
        user=user,
        notification_type="email",
        template_code=TEMPLATE_CODE,
        variables={"name": "Ada"},
    )
    WebhookEndpoint.objects.create(
        id=WEBHOOK_ID,
        url="http://127.0.0.1:9/hooks",
        events=["notification.sent"],
        secret=f"whsec_{'A' * 44}",
    )
    CREDENTIALS.update(key=key, token=str(RefreshToken.for_user(user).access_token))
    yield
    CREDENTIALS.clear()


# Schema-valid input can still be refused for reasons a schema cannot state (no such user, a weak
# password, a template that does not exist): "valid data accepted" is not a property of this API.
EXCLUDED_CHECKS = [positive_data_acceptance]


# The current test's credentials, set by the `world` fixture and read by the auth providers below.
# Given through schemathesis' auth providers, so that its auth probes (`ignored_auth`) know them as
# real credentials, take them away, and check that the API then refuses.
CREDENTIALS: dict[str, str] = {}


class ServiceAuth:
    def get(self, case, context):
        return CREDENTIALS.get("key", "")

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "X-API-Key": data}


class UserAuth:
    def get(self, case, context):
        return CREDENTIALS.get("token", "")

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.auth(ServiceAuth, refresh_interval=None)
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_service(case, world):
    case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)


@schema.auth(UserAuth, refresh_interval=None)
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_user(case, world):
    case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)
