"""The one application error type. Services raise it; the API layer maps it to the envelope."""

from typing import Any


class ApplicationError(Exception):
    """A failure the caller can act on: a machine-readable code, a message, an HTTP status, details."""

    def __init__(self, message: str, *, code: str = "invalid", status: int = 400, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.data = data
