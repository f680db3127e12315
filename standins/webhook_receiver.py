"""A caller's webhook receiver: a real HTTP server that verifies each request's Standard Webhooks signature
(with the `standardwebhooks` library, as a receiver would) and keeps the events. It can be told to answer
another status, to pause, or to go away. The tests use it; run it by hand to watch a running system:

    python standins/webhook_receiver.py --port 9000 --secret whsec_...
"""

import argparse
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from standins.boundary import free_port, http_serve, http_stop


class WebhookReceiver:
    def __init__(self, *, secret: str = "", port: int = 0) -> None:
        self.secret = secret
        self.port = port or free_port()
        self.lock = threading.Lock()
        # Every verified event (a batch's events one by one), with its webhook-id, in arrival order.
        self.events: list[dict[str, Any]] = []
        self.message_ids: Counter[str] = Counter()
        self.requests = 0
        self.refused_signatures = 0
        self.answer_status = 200
        self.delay = 0.0
        self._server: ThreadingHTTPServer | None = None

    def reset(self) -> None:
        with self.lock:
            self.events.clear()
            self.message_ids.clear()
            self.requests = self.refused_signatures = 0
            self.answer_status, self.delay = 200, 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def _handle(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.requests += 1
            status, delay = self.answer_status, self.delay
        if delay:
            time.sleep(delay)
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            with self.lock:
                self.refused_signatures += 1
            return 401
        if not 200 <= status < 300:
            return status
        items = (
            payload["data"] if payload.get("type") == "batch" else [{"id": headers["webhook-id"], **payload}]
        )
        with self.lock:
            self.message_ids[headers["webhook-id"]] += 1
            self.events.extend(items)
        return status

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver._handle({k.lower(): v for k, v in self.headers.items()}, body)
                answer = json.dumps({"status": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = http_serve(Handler, self.port)

    def stop(self) -> None:
        http_stop(self._server)
        self._server = None

    def by_notification(self) -> dict[str, list[str]]:
        """notification id -> its event types, in arrival order."""
        seen: dict[str, list[str]] = {}
        with self.lock:
            for event in self.events:
                notification_id = event["data"].get("notification_id")
                if notification_id:
                    seen.setdefault(notification_id, []).append(event["type"])
        return seen


def main() -> None:
    parser = argparse.ArgumentParser(description="Receive, verify and print status webhooks.")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", required=True, help="The endpoint's secret (whsec_...).")
    options = parser.parse_args()
    receiver = WebhookReceiver(secret=options.secret, port=options.port)
    original = receiver._handle

    def printed(headers: dict[str, str], body: bytes) -> int:
        status = original(headers, body)
        verdict = "verified" if status != 401 else "BAD SIGNATURE"
        print(f"{headers.get('webhook-id')} {verdict}: {body.decode(errors='replace')}", flush=True)
        return status

    receiver._handle = printed  # type: ignore[method-assign]
    receiver.start()
    print(f"listening on {receiver.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        receiver.stop()


if __name__ == "__main__":
    main()
