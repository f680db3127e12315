"""The baseline of the drain benchmarks: the same provider code sending pre-built messages to the same
stand-in, with no database or broker involved. One process; `make bench` runs as many as the pool has.

    python bench/raw_provider.py email --count 2000
    python bench/raw_provider.py push --count 2000 --batch 100

Prints one JSON line: {"count": N, "seconds": S}.
"""

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notifier.settings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("channel", choices=["email", "push"])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    import django

    django.setup()
    from notifications.providers.base import OutgoingEmail, OutgoingPush
    from notifications.providers.registry import provider_for

    ids = [str(uuid.uuid4()) for _ in range(args.count)]
    provider = provider_for(args.channel).provider
    messages: list[OutgoingEmail] | list[OutgoingPush]
    if args.channel == "email":
        messages = [
            OutgoingEmail(
                notification_id=notification_id,
                correlation_id="",
                to=f"bench{i % 200}@example.com",
                subject="Welcome Ada",
                body="Hi Ada, your code is 7.",
                html_body="<p>Hi Ada, your code is <b>7</b>.</p>",
            )
            for i, notification_id in enumerate(ids)
        ]
    else:
        messages = [
            OutgoingPush(
                notification_id=notification_id,
                correlation_id="",
                device_id=i,
                token=f"bench-token-{i % 200:05d}",
                platform="android",
                title="Alert",
                body="Disk almost full",
            )
            for i, notification_id in enumerate(ids)
        ]
    # Pre-built messages, in the batches a worker gets (the provider builds the wire format).
    started = time.perf_counter()
    for start in range(0, len(messages), args.batch):
        results = list(provider.send(messages[start : start + args.batch]))
        assert all(r.error is None for r in results), [r.error for r in results if r.error][:1]
    print(json.dumps({"count": args.count, "seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
