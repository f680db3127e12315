"""Outbound HTTP to callers' URLs: redirects are not followed, answers are read only so far, and the
address check runs on what the URL resolves to."""

from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from notifier.outbound import BoundedSession, OutboundPolicy, OutboundRefused, outbound_url_check
from standins.boundary import free_port, http_serve, http_stop

LOCAL = OutboundPolicy(allow_http=True, allow_private=True, connect_timeout=2, timeout=3, max_body=100)


class _Answers(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"x" * 1_000_000
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    port = free_port()
    running = http_serve(_Answers, port)
    yield f"http://127.0.0.1:{port}"
    http_stop(running)


def test_a_redirect_is_answered_not_followed(server):
    with BoundedSession(LOCAL) as session:
        response = session.post(f"{server}/redirect", data=b"{}")

    assert response.status_code == 302
    assert response.url == f"{server}/redirect"


def test_only_the_first_bytes_of_an_answer_are_read(server):
    with BoundedSession(LOCAL) as session:
        response = session.post(f"{server}/big", data=b"{}")

    assert response.status_code == 200
    assert len(response.content) == 100


def test_a_loopback_address_is_refused_when_private_addresses_are_not_allowed(server):
    strict = OutboundPolicy(allow_http=True, allow_private=False, connect_timeout=2, timeout=3, max_body=100)

    with pytest.raises(OutboundRefused, match="private or reserved"), BoundedSession(strict) as session:
        session.post(f"{server}/big", data=b"{}")
    with pytest.raises(OutboundRefused, match="private or reserved"):
        outbound_url_check("http://localhost/hooks", policy=strict)


@pytest.mark.parametrize(
    ("url", "reason"),
    [("https://", "no host"), ("https://host:99999/x", "not a valid URL"), ("file:///etc/passwd", "https")],
)
def test_malformed_urls_are_refused(url, reason):
    with pytest.raises(OutboundRefused, match=reason):
        outbound_url_check(url, policy=LOCAL)
