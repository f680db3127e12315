"""Which way of sending a list through the Firebase Admin SDK is fastest here, against the FCM stand-in in
a process of its own: `send_each` (a new thread per message) with requests' default pool of 10
connections, `send_each` with the pool of 100 the SDK mounts for fcm.googleapis.com (as the provider
mounts it for FCM_ENDPOINT), `send` on a kept pool of threads, and `send_each_async` (httpx on one
event loop). One process, batches of 100, the same messages; prints one JSON line with the rates.

    python bench/fcm_send_modes.py --count 3000
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--threads", type=int, default=16, help="Threads of the kept pool calling `send`.")
    args = parser.parse_args()

    import firebase_admin
    from firebase_admin import credentials, messaging

    from bench.system import wait_http
    from notifications.providers.fcm import fcm_pool_widen
    from standins.boundary import free_port, service_account_write

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    standin = subprocess.Popen(
        [sys.executable, "-m", "standins.fcm_fast", "--port", str(port)],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"{url}/stats")
        with tempfile.TemporaryDirectory() as folder:
            account = service_account_write(Path(folder) / "account.json", endpoint=url)
            messaging._MessagingService.FCM_URL = url + "/v1/projects/{0}/messages:send"
            app = firebase_admin.initialize_app(
                credentials.Certificate(str(account)), {"httpTimeout": 10}, name="modes"
            )
        messages = [
            messaging.Message(
                token=f"bench-token-{i % 200:05d}",
                notification=messaging.Notification(title="Alert", body="Disk almost full"),
                data={"notification_id": f"modes-{i}"},
            )
            for i in range(args.count)
        ]
        batches = [messages[i : i + args.batch] for i in range(0, len(messages), args.batch)]
        messaging.send_each(batches[0][:1], app=app)  # the OAuth token and a first connection

        started = time.perf_counter()
        for batch in batches:
            assert messaging.send_each(batch, app=app).failure_count == 0
        each = args.count / (time.perf_counter() - started)

        fcm_pool_widen(app, url)
        started = time.perf_counter()
        for batch in batches:
            assert messaging.send_each(batch, app=app).failure_count == 0
        each_wide = args.count / (time.perf_counter() - started)

        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            list(pool.map(lambda m: messaging.send(m, app=app), batches[0][: args.threads]))
            started = time.perf_counter()
            for batch in batches:
                assert all(pool.map(lambda m: messaging.send(m, app=app), batch))
            kept_pool = args.count / (time.perf_counter() - started)

        loop = asyncio.new_event_loop()  # one loop for the process: the SDK's httpx client is bound to it
        loop.run_until_complete(messaging.send_each_async(batches[0][:1], app=app))
        started = time.perf_counter()
        for batch in batches:
            assert loop.run_until_complete(messaging.send_each_async(batch, app=app)).failure_count == 0
        each_async = args.count / (time.perf_counter() - started)
        loop.close()
    finally:
        standin.terminate()
        standin.wait(timeout=10)
    print(
        json.dumps(
            {
                "count": args.count,
                "send_each_pool_10_per_s": round(each),
                "send_each_pool_100_per_s": round(each_wide),
                f"send_on_kept_pool_of_{args.threads}_threads_per_s": round(kept_pool),
                "send_each_async_per_s": round(each_async),
                "cpus": os.cpu_count(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
