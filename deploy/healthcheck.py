#!/usr/bin/env python
"""The API container's healthcheck: GET /health on this container's $PORT; exit 0 when it answers 2xx.

The slim image has no curl, so this is Python's standard library only (it must not import Django: it runs
every 30 seconds). The request names the first of ALLOWED_HOSTS as its Host, so a production
ALLOWED_HOSTS without 127.0.0.1 still passes Django's host check, and it says it came through the TLS
proxy, so SECURE_SSL_REDIRECT (with BEHIND_TLS_PROXY) does not redirect it to https.
"""

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 4


def health_host(allowed_hosts: str) -> str:
    """A Host header that ALLOWED_HOSTS accepts: its first entry ('.example.com' → 'example.com')."""
    first = allowed_hosts.split(",")[0].strip()
    if not first or first == "*":
        return "localhost"
    return first.lstrip(".")


def main() -> int:
    port = os.environ.get("PORT", "8000")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/health",
        headers={
            "Host": health_host(os.environ.get("ALLOWED_HOSTS", "localhost")),
            "X-Forwarded-Proto": "https",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - fixed URL
            status = response.status
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
