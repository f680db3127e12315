"""Settings, one module per concern. Every difference between environments comes from the environment."""

from notifier.settings.api import *  # noqa: F403
from notifier.settings.base import *  # noqa: F403
from notifier.settings.cache import *  # noqa: F403
from notifier.settings.celery import *  # noqa: F403
from notifier.settings.delivery import *  # noqa: F403
from notifier.settings.logging import *  # noqa: F403
from notifier.settings.metrics import *  # noqa: F403
from notifier.settings.secret_keys import secrets_refuse_known
from notifier.settings.webhooks import *  # noqa: F403

secrets_refuse_known(debug=DEBUG, values={"DJANGO_SECRET_KEY": SECRET_KEY, "JWT_SECRET": JWT_SECRET})  # noqa: F405
