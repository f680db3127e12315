"""Stand-ins for what lies outside this machine, at its network boundary: a real SMTP server (aiosmtpd)
in place of the email provider, and a local HTTP endpoint that the real Firebase Admin SDK talks to in
place of FCM and Google's OAuth server. Both can be told to fail, slow down or go away."""

import json
import socket
import threading
import time
from collections import Counter, defaultdict
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_serve(handler: type[BaseHTTPRequestHandler], port: int) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:`port`, each request in a thread, serving from a thread of its own."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def http_stop(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


class SmtpHandler:
    """Accepts mail, except where told otherwise: per recipient, a list of (code, text) answers to give
    to the next RCPT commands, and an optional pause before answering RCPT. Offers ESMTP PIPELINING (as
    real servers do) unless `pipelining` is set to False."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Message] = []
        self.rcpt_answers: dict[str, list[str]] = defaultdict(list)
        self.always_refuse: dict[str, str] = {}
        # recipient -> the reply to the end of DATA for a message to them (the server's failure, not theirs)
        self.data_refuse: dict[str, str] = {}
        self.rcpt_delay: dict[str, float] = {}
        self.rcpt_count: Counter[str] = Counter()
        # X-Notification-Id -> when the message was accepted (time.time()), for latency figures.
        self.received_at: dict[str, float] = {}
        # The client address and port of the connection each message came over, in order.
        self.peers: list[tuple[str, int]] = []
        self.pipelining = True

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.rcpt_answers.clear()
            self.always_refuse.clear()
            self.data_refuse.clear()
            self.rcpt_delay.clear()
            self.rcpt_count.clear()
            self.received_at.clear()
            self.peers.clear()
            self.pipelining = True

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        import asyncio

        with self.lock:
            self.rcpt_count[address] += 1
            delay = self.rcpt_delay.get(address, 0.0)
            scripted = self.rcpt_answers[address].pop(0) if self.rcpt_answers[address] else None
            refused = self.always_refuse.get(address)
        if delay:
            await asyncio.sleep(delay)
        if scripted or refused:
            return scripted or refused  # type: ignore[return-value]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            refused = next((self.data_refuse[r] for r in envelope.rcpt_tos if r in self.data_refuse), None)
        if refused:
            return refused
        message = message_from_bytes(envelope.content)
        with self.lock:
            self.messages.append(message)
            self.peers.append(tuple(session.peer))
            self.received_at.setdefault(str(message["X-Notification-Id"]), time.time())
        return "250 Message accepted for delivery"

    def counts(self) -> Counter[str]:
        """Messages received per X-Notification-Id, in one pass (a tally of thousands)."""
        with self.lock:
            return Counter(str(m["X-Notification-Id"]) for m in self.messages)

    def messages_for(self, notification_id: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m["X-Notification-Id"] == notification_id]


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.handler = SmtpHandler()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class FcmState:
    """What the FCM stand-in received, and how it should answer, per device token."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: list[dict[str, Any]] = []
        self.tokens_issued = 0
        # token -> list of (http status, FCM error code) answers for the next sends to it
        self.scripted: dict[str, list[tuple[int, str]]] = defaultdict(list)
        self.unregistered: set[str] = set()
        # notification_id -> when its first message arrived (time.time()), for latency figures.
        self.received_at: dict[str, float] = {}

    def reset(self) -> None:
        with self.lock:
            self.sent.clear()
            self.received_at.clear()
            self.scripted.clear()
            self.unregistered.clear()

    def sent_for(self, notification_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.sent if m["message"]["data"].get("notification_id") == notification_id]


def _fcm_error(status: int, code: str, message: str) -> dict[str, Any]:
    status_name = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}
    return {
        "error": {
            "code": status,
            "message": message,
            "status": status_name.get(status, "INTERNAL"),
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}],
        }
    }


class FcmServer:
    PROJECT_ID = "notifier-test"

    def __init__(self) -> None:
        self.port = free_port()
        self.state = FcmState()
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(
                self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path == "/token":
                    with state.lock:
                        state.tokens_issued += 1
                    self._answer(
                        200, {"access_token": "test-access-token", "expires_in": 3600, "token_type": "Bearer"}
                    )
                    return
                if not self.path.endswith("/messages:send"):
                    self._answer(
                        404, {"error": {"code": 404, "message": "no such path", "status": "NOT_FOUND"}}
                    )
                    return
                if self.headers.get("Authorization") != "Bearer test-access-token":
                    self._answer(
                        401, {"error": {"code": 401, "message": "bad token", "status": "UNAUTHENTICATED"}}
                    )
                    return
                body = json.loads(raw)
                token = body["message"].get("token", "")
                with state.lock:
                    scripted = state.scripted[token].pop(0) if state.scripted[token] else None
                    unregistered = token in state.unregistered
                    if not scripted and not unregistered:
                        state.sent.append(body)
                        count = len(state.sent)
                        notification_id = body["message"].get("data", {}).get("notification_id", "")
                        state.received_at.setdefault(notification_id, time.time())
                if unregistered:
                    self._answer(404, _fcm_error(404, "UNREGISTERED", "Requested entity was not found."))
                elif scripted:
                    status, code = scripted
                    # No Retry-After: with one, the SDK's own HTTP retries would absorb the error.
                    self._answer(status, _fcm_error(status, code, f"scripted {code}"))
                else:
                    self._answer(200, {"name": f"projects/{FcmServer.PROJECT_ID}/messages/{count}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()

    def write_service_account(self, path: Path) -> Path:
        return service_account_write(path, endpoint=self.endpoint, project_id=self.PROJECT_ID)


def service_account_write(path: Path, *, endpoint: str, project_id: str = FcmServer.PROJECT_ID) -> Path:
    """A Firebase service-account file whose token_uri is the stand-in's, with a fresh RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": project_id,
                "private_key_id": "test-key",
                "private_key": pem,
                "client_email": f"notifier@{project_id}.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"{endpoint}/token",
            }
        )
    )
    return path


def wait_for(
    predicate: Any, *, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
