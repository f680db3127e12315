"""A fast FCM stand-in for `make bench`, in a process of its own: HTTP/1.1 with keep-alive on asyncio, a
listen backlog of 1,024, answering the Firebase Admin SDK's OAuth token request and FCM v1 sends as the
real service does, so that it is never what limits the measured rate. It records when the first message
of each notification arrived, and how many arrived; `GET /stats` answers them as JSON
({"received_at": {id: unix time}, "counts": {id: n}}).

    python -m standins.fcm_fast --port 8765
"""

import argparse
import asyncio
import json
import time

TOKEN_BODY = json.dumps({"access_token": "test-access-token", "expires_in": 3600, "token_type": "Bearer"})


class FcmProtocol(asyncio.Protocol):
    received_at: dict[str, float] = {}
    counts: dict[str, int] = {}
    sent = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            method, path, _ = head.split("\r\n", 1)[0].split(" ", 2)
            self._answer(*self._handle(method, path, body))

    def _handle(self, method: str, path: str, body: bytes) -> tuple[int, str]:
        if method == "POST" and path == "/token":
            return 200, TOKEN_BODY
        if method == "GET" and path == "/stats":
            return 200, json.dumps({"received_at": FcmProtocol.received_at, "counts": FcmProtocol.counts})
        if method == "POST" and path.endswith("/messages:send"):
            message = json.loads(body)["message"]
            notification_id = message.get("data", {}).get("notification_id", "")
            FcmProtocol.received_at.setdefault(notification_id, time.time())
            FcmProtocol.counts[notification_id] = FcmProtocol.counts.get(notification_id, 0) + 1
            FcmProtocol.sent += 1
            return 200, json.dumps({"name": f"projects/notifier-test/messages/{FcmProtocol.sent}"})
        return 404, json.dumps({"error": {"code": 404, "message": "no such path", "status": "NOT_FOUND"}})

    def _answer(self, status: int, payload: str) -> None:
        data = payload.encode()
        reason = "OK" if status == 200 else "Not Found"
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: keep-alive\r\n\r\n".encode()
            + data
        )


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FcmProtocol, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
