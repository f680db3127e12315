"""Outbound HTTP to addresses callers give us (webhook endpoints, browsers' push services), so that it can
never become a way into this machine's network (SSRF).

requests-hardened (Saleor's) resolves the host once, refuses loopback, private, link-local and other
reserved addresses, and connects to the address it checked (the Host header and TLS name stay the
URL's), so a DNS answer that changes between the check and the connect cannot slip through. On top of it:
only https unless allowed, redirects never followed, and at most `max_body` bytes of an answer read.
"""

import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress, filter_host

__all__ = ["BoundedSession", "OutboundPolicy", "OutboundRefused", "outbound_url_check"]


class OutboundRefused(Exception):
    """The URL may not be called: its scheme, or an address it resolves to. `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OutboundPolicy:
    allow_http: bool
    allow_private: bool
    connect_timeout: float
    timeout: float
    max_body: int


def outbound_url_check(url: str, *, policy: OutboundPolicy, resolve: bool = True) -> None:
    """Raises OutboundRefused when `url` may not be called: not http(s), http where only https is allowed,
    credentials in it, or (resolve) a host that does not resolve or resolves to a forbidden address."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("https", "http"):
        raise OutboundRefused("only https URLs are allowed")
    if parts.scheme == "http" and not policy.allow_http:
        raise OutboundRefused(
            "only https URLs are allowed (WEBHOOK_ALLOW_HTTP permits http, for local tests)"
        )
    if not parts.hostname:
        raise OutboundRefused("the URL has no host")
    if parts.username or parts.password:
        raise OutboundRefused("credentials in the URL are not allowed (the signature proves the sender)")
    if not resolve or policy.allow_private:
        return
    try:
        filter_host(parts.hostname, port or (443 if parts.scheme == "https" else 80), allow_loopback=False)
    except InvalidIPAddress as exc:
        raise OutboundRefused(f"the host resolves to a private or reserved address ({exc})") from exc
    except (requests.ConnectionError, socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused(f"the host does not resolve: {parts.hostname}") from exc


class BoundedSession(HTTPSession):
    """A requests session that checks each URL against the policy, pins the checked address, never
    follows a redirect, and reads at most `max_body` bytes of any answer (the connection is then closed).
    `(connect, read)` timeouts apply to every request; the read timeout is cut to what is left of
    `timeout` once connected, so a slow answer cannot hold a worker much past it."""

    def __init__(self, policy: OutboundPolicy) -> None:
        super().__init__(
            Config(
                ip_filter_enable=not policy.allow_private,
                ip_filter_allow_loopback_ips=False,
                never_redirect=True,
                default_timeout=(policy.connect_timeout, policy.timeout),
                user_agent_override="notifier",
            )
        )
        self.policy = policy

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        outbound_url_check(request.url or "", policy=self.policy, resolve=False)
        kwargs["stream"] = True
        kwargs["allow_redirects"] = False
        kwargs["timeout"] = (self.policy.connect_timeout, self.policy.timeout)
        started = time.monotonic()
        try:
            response = super().send(request, **kwargs)
        except InvalidIPAddress as exc:
            raise OutboundRefused(f"the host resolves to a private or reserved address ({exc})") from exc
        try:
            body = b""
            while len(body) <= self.policy.max_body:
                if time.monotonic() - started > self.policy.timeout:
                    break
                chunk = response.raw.read(
                    min(1024, self.policy.max_body + 1 - len(body)), decode_content=True
                )
                if not chunk:
                    break
                body += chunk
        except urllib3.exceptions.HTTPError as exc:
            # The answer broke off or stalled after its status line: a failed request, as requests says it.
            raise requests.ConnectionError(f"reading the answer failed: {exc.__class__.__name__}") from exc
        finally:
            response.close()
        response._content = body[: self.policy.max_body]
        response._content_consumed = True
        return response
