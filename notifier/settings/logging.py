"""Logs are JSON lines on stderr with the same keys in every process (the API and gunicorn itself, the
workers and Celery itself, the relay, the scheduler, the commands): time, level, logger, message,
correlation_id and role, plus the fields a line adds. gunicorn takes this same dictionary
(notifier/gunicorn_conf.py), Celery keeps its hands off it (notifier/celery.py), and Python's warnings
come through it.

stderr, so that a management command's results (stdout) can be piped or read apart from its logs.
"""

from notifier.settings.env import env

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# One line per API request (method, path, status, duration_ms, bytes) from gunicorn's access log.
ACCESS_LOG = env.bool("ACCESS_LOG", default=True)

LOGGING_CONFIG = "notifier.logging.logging_configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "notifier.logging.LogContextFilter"},
        "access": {"()": "notifier.logging.AccessLogFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s %(role)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        }
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "json",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "gunicorn.error": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
        # billiard's pool messages ("Process 'ForkPoolWorker-1' ... exited with 'signal 9'"): its logger
        # does not propagate, and Celery, which would give it a handler, leaves logging to this.
        "multiprocessing": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "gunicorn.access": {
            "handlers": ["stderr"],
            "filters": ["access"],
            "level": "INFO" if ACCESS_LOG else "WARNING",
            "propagate": False,
        },
    },
}
