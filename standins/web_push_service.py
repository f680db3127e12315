"""A browser's push service (what Mozilla's autopush or Google's are to a real browser), at the network
boundary: it hands out subscriptions as a browser's pushManager.subscribe() would (an endpoint, the
browser's P-256 key and auth secret, whose private halves it keeps), checks each push's VAPID JWT
(RFC 8292: ES256, signed by the application server key the subscription was made with, audience this
origin, not expired), decrypts the aes128gcm payload (RFC 8291, with http_ece) and keeps what the service
worker would receive. It can be told to answer a subscription with another status (410: gone).

The tests use it; run it by hand beside `make run` to see a browser's pushes (it makes one subscription
and prints how to register it, then each push it decrypts):

    python -m standins.web_push_service --port 9100 --application-server-key "$(curl -s \
        http://127.0.0.1:8000/api/v1/web-push/vapid-public-key | python -c 'import json,sys; \
        print(json.load(sys.stdin)["data"]["public_key"])')"
"""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid.utils import b64urldecode, b64urlencode

from scripts.ensure_vapid_keys import vapid_key_pair
from standins.boundary import free_port, http_serve, http_stop

__all__ = ["WebPushService", "vapid_key_pair"]


class WebPushService:
    def __init__(self, *, application_server_key: str, port: int = 0) -> None:
        self.application_server_key = application_server_key
        self.port = port or free_port()
        self.lock = threading.Lock()
        self._keys: dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]] = {}
        # subscription id -> the payloads the service worker received (decrypted JSON), in order
        self.received: dict[str, list[dict[str, Any]]] = {}
        self.answers: dict[str, int] = {}
        self.refusals: list[str] = []
        self.ttls: list[int] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def subscribe(self) -> dict[str, Any]:
        """A new subscription, as PushSubscription.toJSON() gives it."""
        private = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        subscription_id = b64urlencode(os.urandom(12))
        with self.lock:
            self._keys[subscription_id] = (private, auth)
            self.received[subscription_id] = []
        public = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.origin}/push/{subscription_id}",
            "keys": {"p256dh": b64urlencode(public), "auth": b64urlencode(auth)},
        }

    @staticmethod
    def id_of(subscription: dict[str, Any]) -> str:
        return str(subscription["endpoint"]).rsplit("/", 1)[1]

    def payloads(self, subscription: dict[str, Any]) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.received.get(self.id_of(subscription), []))

    def _refuse(self, reason: str) -> int:
        with self.lock:
            self.refusals.append(reason)
        return 403

    def _vapid_problem(self, authorization: str) -> str | None:
        scheme, _, params = authorization.partition(" ")
        fields = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
        if scheme.lower() != "vapid" or "t" not in fields or "k" not in fields:
            return f"not a VAPID authorization: {authorization[:40]!r}"
        if fields["k"] != self.application_server_key:
            return "signed with another key than the subscription's applicationServerKey"
        public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b64urldecode(fields["k"].encode())
        )
        try:
            claims = jwt.decode(fields["t"], public, algorithms=["ES256"], audience=self.origin)
        except jwt.InvalidTokenError as exc:
            return f"VAPID JWT refused: {exc}"
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            return "VAPID JWT without a mailto: or https: subject"
        if claims["exp"] > time.time() + 24 * 3600:
            return "VAPID JWT expires more than 24 h ahead"
        return None

    def _push(self, subscription_id: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            keys = self._keys.get(subscription_id)
            answer = self.answers.get(subscription_id)
        if keys is None:
            return 404
        if answer is not None:
            return answer
        problem = self._vapid_problem(headers.get("authorization", ""))
        if problem is not None:
            return self._refuse(problem)
        if headers.get("content-encoding") != "aes128gcm" or "ttl" not in headers:
            return self._refuse("missing Content-Encoding: aes128gcm or TTL")
        private, auth = keys
        try:
            plaintext = http_ece.decrypt(body, private_key=private, auth_secret=auth, version="aes128gcm")
        except Exception as exc:  # noqa: BLE001 - any decryption failure is the sender's fault: refused
            return self._refuse(f"cannot decrypt: {exc}")
        with self.lock:
            self.received[subscription_id].append(json.loads(plaintext))
            self.ttls.append(int(headers["ttl"]))
        return 201

    def start(self) -> None:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                subscription_id = self.path.rsplit("/", 1)[-1]
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = service._push(subscription_id, headers, body)
                self.send_response(status)
                if status == 201:
                    self.send_header("Location", f"{service.origin}/message/{time.time_ns()}")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = http_serve(Handler, self.port)

    def stop(self) -> None:
        http_stop(self._server)
        self._server = None


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description="A browser's push service: one subscription, printed pushes."
    )
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument(
        "--application-server-key", required=True, help="GET /api/v1/web-push/vapid-public-key"
    )
    options = parser.parse_args()
    service = WebPushService(application_server_key=options.application_server_key, port=options.port)
    original = service._push

    def printed(subscription_id: str, headers: dict[str, str], body: bytes) -> int:
        status = original(subscription_id, headers, body)
        with service.lock:
            shown = service.received.get(subscription_id, [])[-1:] if status == 201 else service.refusals[-1:]
        print(f"{status} {json.dumps(shown[0]) if shown else ''}", flush=True)
        return status

    service._push = printed  # type: ignore[method-assign]
    service.start()
    subscription = service.subscribe()
    print("register this subscription as a web device of a user:", flush=True)
    print(json.dumps({"platform": "web", "subscription": subscription}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        service.stop()


if __name__ == "__main__":
    main()
