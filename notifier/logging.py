"""The correlation id of the work in hand, carried in a context variable and stamped on every log record."""

import logging
import re
import uuid
from contextvars import ContextVar

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Ids we accept from callers: short and printable, so they are safe in headers and logs.
_VALID_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def correlation_id_get() -> str | None:
    return _correlation_id.get()


def correlation_id_set(value: str | None) -> None:
    _correlation_id.set(value)


def correlation_id_from(candidate: str | None) -> str:
    """The caller's id when it is well-formed, otherwise a fresh one."""
    if candidate and _VALID_CORRELATION_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "correlation_id", None):
            record.correlation_id = _correlation_id.get()
        return True
