"""A fast SMTP sink for `make bench`, in a process of its own: asyncio, just enough ESMTP for smtplib
(EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; PIPELINING offered, as real servers do) over kept-open
connections, accepting every message, so
that it is never what limits the measured rate. It records when the first message of each notification
(its X-Notification-Id header) arrived, and how many arrived; `GET /stats` on the HTTP port answers them
as JSON ({"received_at": {id: unix time}, "counts": {id: n}}).

    python -m standins.smtp_fast --port 2525 --http-port 2526
"""

import argparse
import asyncio
import json
import re
import time

_NOTIFICATION_ID = re.compile(rb"^X-Notification-Id:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
received_at: dict[str, float] = {}
counts: dict[str, int] = {}


class SmtpSink(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""
        self.in_data = False
        self.transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    return
                message, self.buffer = self.buffer[:end], self.buffer[end + 5 :]
                self.in_data = False
                self._received(message)
                self.transport.write(b"250 OK queued\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            self._command(line.decode("latin-1"))

    def _command(self, line: str) -> None:
        verb = line[:4].upper()
        if verb == "EHLO":
            self.transport.write(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 33554432\r\n")
        elif verb == "DATA":
            self.in_data = True
            self.transport.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == "QUIT":
            self.transport.write(b"221 Bye\r\n")
            self.transport.close()
        elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
            self.transport.write(b"250 OK\r\n")
        else:
            self.transport.write(b"502 Command not implemented\r\n")

    @staticmethod
    def _received(message: bytes) -> None:
        match = _NOTIFICATION_ID.search(message)
        if match:
            notification_id = match.group(1).decode()
            received_at.setdefault(notification_id, time.time())
            counts[notification_id] = counts.get(notification_id, 0) + 1


class Stats(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if b"\r\n\r\n" not in data:
            return
        if data.startswith(b"POST /reset"):
            received_at.clear()
            counts.clear()
        body = json.dumps({"received_at": received_at, "counts": counts}).encode()
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        self.transport.close()


async def serve(port: int, http_port: int) -> None:
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(SmtpSink, "127.0.0.1", port, backlog=1024)
    stats = await loop.create_server(Stats, "127.0.0.1", http_port, backlog=128)
    async with smtp, stats:
        await asyncio.gather(smtp.serve_forever(), stats.serve_forever())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.http_port))


if __name__ == "__main__":
    main()
