"""What every log line carries: the correlation id of the work in hand (a context variable) and the role of
the process that wrote it (`api`, `worker:email`, `relay`, `scheduler`, or a command's name)."""

import logging
import logging.config
import re
import sys
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from functools import cache
from pathlib import Path

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Ids we accept from callers: short and printable, so they are safe in headers and logs.
_VALID_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def logging_configure(config: dict) -> None:
    """Django's LOGGING_CONFIG: the dictionary, and Python's warnings (Celery's root warning among them)
    as log lines of the `py.warnings` logger instead of plain text."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


def correlation_id_get() -> str | None:
    return _correlation_id.get()


def correlation_id_set(value: str | None) -> None:
    _correlation_id.set(value)


def correlation_id_from(candidate: str | None) -> str:
    """The caller's id when it is well-formed, otherwise a fresh one."""
    if candidate and _VALID_CORRELATION_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex


# Management commands whose process has a name of its own in the logs.
_COMMAND_ROLES = {"outbox_relay": "relay", "run_scheduler": "scheduler"}


def process_role(argv: Sequence[str]) -> str:
    """The role of a process, read from its command line, so that every process started by `make run`,
    compose or Kubernetes names itself without being told."""
    if not argv:
        return "python"
    program = Path(argv[0])
    name = program.parent.name if program.name == "__main__.py" else program.name  # `python -m gunicorn`
    if name == "gunicorn":
        return "api"
    if name == "celery":
        if "beat" in argv:
            return "scheduler"
        if "flower" in argv:
            return "flower"
        if "worker" in argv:
            hostname = argv[argv.index("--hostname") + 1] if "--hostname" in argv[:-1] else "celery@"
            return f"worker:{hostname.split('@')[0]}"
        return "celery"
    if name == "manage.py" and len(argv) > 1:
        return _COMMAND_ROLES.get(argv[1], argv[1])
    return program.stem


@cache
def _this_process_role() -> str:
    return process_role(sys.argv)


class LogContextFilter(logging.Filter):
    """Stamps the correlation id and the process role on every record that does not carry its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "correlation_id", None):
            record.correlation_id = _correlation_id.get()
        if not getattr(record, "role", None):
            record.role = _this_process_role()
        return True


class AccessLogFilter(logging.Filter):
    """gunicorn's access lines as fields: gunicorn passes its request atoms as the record's arguments, and
    the message is `access_log_format` filled with them (notifier/gunicorn_conf.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if isinstance(atoms, dict):
            record.method = atoms["m"]
            record.path = atoms["U"]
            record.status = int(str(atoms["s"]).split()[0])
            record.duration_ms = atoms["M"]
            record.bytes = atoms["B"]
            record.remote_addr = atoms["h"]
        return True
