"""Wraps every API response in the envelope `{success, data, error, message, meta}`."""

from http import HTTPStatus
from typing import Any

from rest_framework.renderers import JSONRenderer


def envelope(
    *, success: bool, data: Any = None, error: str | None = None, message: str = "", meta: Any = None
) -> dict[str, Any]:
    return {"success": success, "data": data, "error": error, "message": message, "meta": meta}


class EnvelopeJSONRenderer(JSONRenderer):
    """Views return plain data; errors arrive already enveloped from the exception handler."""

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is not None and not getattr(response, "enveloped", False):
            status = response.status_code
            data = envelope(
                success=status < 400,
                data=data,
                message=getattr(response, "envelope_message", None) or HTTPStatus(status).phrase,
                meta=getattr(response, "envelope_meta", None),
            )
        return super().render(data, accepted_media_type, renderer_context)
