"""Every `error` code the API answers, with its HTTP status and what it means: written once, so that the
schema's per-operation enums, its examples and the table in its description all come from here, and a test
holds every code the code raises to this list."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    meaning: str
    example_message: str


_CODES = (
    ErrorCode("validation_error", 400, "A field or parameter is invalid; `data` maps each to its errors.",
              "Invalid input: This field is required."),
    ErrorCode("parse_error", 400, "The body is not well-formed JSON.", "JSON parse error - Expecting value."),
    ErrorCode("invalid_content_length", 400, "The Content-Length header is not a number.",
              "Request bodies are limited to 262144 bytes."),
    ErrorCode("invalid", 400, "A value passed validation but the database refuses it.",
              "The request holds a value that cannot be stored."),
    ErrorCode("missing_variables", 400, "The template needs variables the request does not give; `data` "
              "names them.", "Missing template variables: name."),
    ErrorCode("url_refused", 400, "The webhook URL is not allowed (scheme, private network, port).",
              "The URL must use https."),
    ErrorCode("not_authenticated", 401, "No credentials: send `X-API-Key` or `Authorization: Bearer <JWT>`.",
              "Authentication credentials were not provided."),
    ErrorCode("authentication_failed", 401, "The API key or the access token is invalid, expired or revoked.",
              "Invalid API key."),
    ErrorCode("invalid_credentials", 401, "Wrong email or password.", "Invalid email or password."),
    ErrorCode("invalid_token", 401, "The refresh token is invalid, expired or already used.",
              "The refresh token is invalid, expired or already used."),
    ErrorCode("permission_denied", 403, "The caller may not do this (a user acting on another user, a "
              "service on a staff account).", "You do not have permission to perform this action."),
    ErrorCode("not_found", 404, "No such record, or not one the caller may see.", "Not found."),
    ErrorCode("template_not_found", 404, "No active template with this code, channel and language.",
              "No active email template 'welcome'."),
    ErrorCode("not_configured", 404, "The feature is not configured on this server.",
              "Web Push is not configured on this server."),
    ErrorCode("not_acceptable", 406, "The Accept header asks for something other than JSON.",
              "Could not satisfy the request Accept header."),
    ErrorCode("conflict", 409, "The record exists already (an email, a topic key).",
              "A user with this email exists."),
    ErrorCode("idempotency_conflict", 409, "The `request_id` was used before with a different body.",
              "request_id 'demo-1' was used with a different body."),
    ErrorCode("not_cancellable", 409, "A provider has it already; `data.status` says where it is.",
              "The notification is sent; it can no longer be cancelled."),
    ErrorCode("invalid_transition", 409, "The notification's status cannot move to the reported one.",
              "A pending notification cannot become delivered."),
    ErrorCode("limit_reached", 409, "A per-server limit is reached (WEBHOOK_ENDPOINTS_MAX endpoints).",
              "At most 20 webhook endpoints."),
    ErrorCode("length_required", 411, "A chunked body: send it with a Content-Length.",
              "Send the body with a Content-Length; chunked request bodies are not accepted."),
    ErrorCode("payload_too_large", 413, "The body, or a list in it, is larger than its limit.",
              "Request bodies are limited to 262144 bytes."),
    ErrorCode("unsupported_media_type", 415, "The body is not `application/json`.",
              'Unsupported media type "text/plain" in request.'),
    ErrorCode("rate_limited", 429, "Too many requests; `Retry-After` says when to try again.",
              "Request was throttled. Expected available in 2 seconds."),
    ErrorCode("service_unavailable", 503, "The database is unavailable; `Retry-After` says when to retry.",
              "The database is unavailable; try again shortly."),
    ErrorCode("not_ready", 503, "A dependency is down; `data.checks` names it.",
              "A dependency is down: broker"),
    # Answered outside any operation: before routing, or for a method or path the API does not have.
    ErrorCode("bad_request", 400, "Refused before routing (a Host not in ALLOWED_HOSTS, a malformed "
              "request line).", "Bad request."),
    ErrorCode("method_not_allowed", 405, "The path does not take this method; `Allow` lists those it takes.",
              'Method "PUT" not allowed.'),
    ErrorCode("internal_error", 500, "An unexpected failure; its correlation id finds it in the logs.",
              "An unexpected error occurred."),
)  # fmt: skip

ERROR_CODES: dict[str, ErrorCode] = {error.code: error for error in _CODES}
# Codes no operation answers by itself (see the comment above): listed in the schema's description only.
OUTSIDE_OPERATIONS = frozenset({"bad_request", "method_not_allowed", "internal_error"})
