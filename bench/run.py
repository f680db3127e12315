"""`make bench`: the system's throughput and latency on this machine, beside baselines measured in the
same run (the broker's raw rates, Celery's own overhead, GET /health), so the ratios hold on noisy
machines. Prints a table and writes bench/results/latest.json."""

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.system import PYTHON, ROOT, bench_env, prepare, processes, rss_mb, wait_http

RESULTS = ROOT / "bench" / "results"
STEPS = (
    "broker", "celery", "accept", "email_drain", "push_drain", "end_to_end", "trickle", "fanout", "lanes",
    "webhooks",
)  # fmt: skip
LOGS = RESULTS / "logs"
PORT = 8090


def machine() -> dict[str, Any]:
    def out(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return "unknown"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    rabbit = next((line for line in out(["rabbitmqctl", "-q", "version"]).splitlines()), "unknown")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": out(["psql", "--version"]),
        "redis": out(["redis-server", "--version"]).split(" sha=")[0],
        "rabbitmq": rabbit,
        "git": out(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# 1. The broker's ceiling -------------------------------------------------------------------------------


def broker_ceiling(n: int) -> dict[str, float]:
    import kombu

    url = os.environ["CELERY_BROKER_URL"]
    with kombu.Connection(url, transport_options={"confirm_publish": True}) as conn:
        channel: Any = conn.channel()
        queue = kombu.Queue("bench.ceiling", queue_arguments={"x-queue-type": "quorum"}, channel=channel)
        channel.queue_delete("bench.ceiling")
        queue.declare()
        producer = kombu.Producer(channel, routing_key="bench.ceiling", serializer="json")
        body = {"id": "00000000-0000-0000-0000-000000000000"}
        started = time.perf_counter()
        for _ in range(n):
            producer.publish(body, delivery_mode=2)
        publish_rate = n / (time.perf_counter() - started)

    received = 0
    with kombu.Connection(url) as conn:
        channel = conn.channel()
        channel.basic_qos(0, 100, False)
        queue = kombu.Queue("bench.ceiling", queue_arguments={"x-queue-type": "quorum"}, channel=channel)

        def on_message(body: Any, message: Any) -> None:
            nonlocal received
            received += 1
            message.ack()

        with kombu.Consumer(channel, queues=[queue], callbacks=[on_message], accept=["json"]):
            started = time.perf_counter()
            while received < n:
                conn.drain_events(timeout=10)
            consume_rate = n / (time.perf_counter() - started)
        channel.queue_delete("bench.ceiling")
    return {"publish_confirmed_per_s": round(publish_rate), "consume_per_s": round(consume_rate)}


# 2. Celery's own overhead -------------------------------------------------------------------------------


def celery_drain(n: int, env: dict[str, str], concurrency: int) -> dict[str, float]:
    import redis

    from bench.noop_app import COUNTER, QUEUE, app

    client = redis.Redis.from_url(env["REDIS_URL"])
    client.delete(COUNTER)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(QUEUE)  # type: ignore[attr-defined]
    for _ in range(n):
        app.send_task("bench.noop")
    command = (
        f"{PYTHON} -m celery -A bench.noop_app worker -Q {QUEUE} --pool prefork -c {concurrency} "
        "--without-gossip --without-mingle --loglevel WARNING"
    )
    with processes({"noop_worker": command}, env, LOGS):
        while int(client.get(COUNTER) or 0) == 0:
            time.sleep(0.01)
        started = time.perf_counter()
        first = int(client.get(COUNTER) or 0)
        while int(client.get(COUNTER) or 0) < n:
            time.sleep(0.02)
        rate = (n - first) / (time.perf_counter() - started)
    return {"noop_tasks_per_s": round(rate), "concurrency": concurrency}


# 3. The accept path -------------------------------------------------------------------------------------


def wrk(
    mode: str,
    connections: int,
    seconds: int,
    *,
    users: list[str],
    channel: str,
    template: str,
    tag: str,
    batch: int = 100,
) -> dict[str, Any]:
    script = ROOT / "bench" / "load.lua"
    cmd = [
        "wrk",
        "-t",
        "2",
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        # A request of 1,000 notifications takes longer than wrk's default 2 s timeout under load.
        "--timeout",
        "10s" if mode == "batch" else "2s",
        "-s",
        str(script),
        "-H",
        f"X-API-Key: {os.environ['BENCH_API_KEY']}",
        f"http://127.0.0.1:{PORT}",
        "--",
        mode,
        channel,
        template,
        ",".join(users),
        f"{tag}-{time.time_ns()}",
        str(batch),
    ]
    output = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK_JSON "))
    data = json.loads(line.removeprefix("WRK_JSON "))
    seconds_run = data["duration_us"] / 1e6
    return {
        "requests": data["requests"],
        "requests_per_s": round(data["requests"] / seconds_run),
        "p50_ms": round(data["p50_us"] / 1000, 2),
        "p95_ms": round(data["p95_us"] / 1000, 2),
        "p99_ms": round(data["p99_us"] / 1000, 2),
        "errors": data["non2xx"] + data["socket_errors"],
    }


def seed(users: int) -> tuple[list[str], str]:
    """Users (each with a push device), an email and a push template, and an API key."""
    import django

    django.setup()
    from rest_framework_api_key.models import APIKey

    from templates_app.services import template_create_or_version
    from users.models import Device, User

    created = User.objects.bulk_create(
        [
            User(name=f"Bench {i}", email=f"bench{i}@example.com", preferences={"email": True, "push": True})
            for i in range(users)
        ]
    )
    Device.objects.bulk_create(
        [
            Device(user=user, token=f"bench-token-{i:05d}", platform="android")
            for i, user in enumerate(created)
        ]
    )
    template_create_or_version(
        code="bench-email",
        language="en",
        notification_type="email",
        subject="Welcome {{name}}",
        body="Hi {{name}}, your code is {{code}}.",
        html_body="<p>Hi {{name}}, your code is <b>{{code}}</b>.</p>",
    )
    template_create_or_version(
        code="bench-push", language="en", notification_type="push", subject="{{title}}", body="{{message}}"
    )
    _, key = APIKey.objects.create_key(name="bench")
    return [str(user.id) for user in created], key


def system_commands(
    *,
    web: bool = True,
    email: int = 0,
    push: int = 0,
    email_urgent: int = 0,
    webhook: int = 0,
    relay: bool = True,
) -> dict[str, str]:
    """The processes `make run` starts (the same worker command lines), with the pools asked for."""
    from notifier.workers import worker_argv

    commands = {}
    if web:
        commands["web"] = f"{PYTHON} -m gunicorn notifier.wsgi --config python:notifier.gunicorn_conf"
    for name, channel, urgent, concurrency in (
        ("email_worker", "email", False, email),
        ("email_urgent_worker", "email", True, email_urgent),
        ("push_worker", "push", False, push),
        ("webhook_worker", "webhook", False, webhook),
    ):
        if concurrency:
            argv = worker_argv(channel, urgent=urgent, concurrency=concurrency, loglevel="WARNING")
            commands[name] = " ".join(shlex.quote(part) for part in argv)
    if relay:
        commands["relay"] = f"{PYTHON} manage.py outbox_relay"
    return commands


def purge(*queues: str) -> None:
    import kombu

    with kombu.Connection(os.environ["CELERY_BROKER_URL"]) as conn:
        channel: Any = conn.channel()
        for name in queues:
            channel.queue_purge(name)


def accept_path(users: list[str], seconds: int) -> dict[str, Any]:
    """GET /health and POST /notifications/ at 16 and 64 connections, the relay stopped."""
    accept: dict[str, Any] = {}
    with processes(system_commands(relay=False), dict(os.environ), LOGS) as running:
        wait_http(f"http://127.0.0.1:{PORT}/health")
        wrk("get", 16, 2, users=users, channel="email", template="bench-email", tag="warm")
        for connections in (16, 64):
            health = wrk(
                "get", connections, seconds, users=users, channel="email", template="bench-email", tag="h"
            )
            post = wrk(
                "post", connections, seconds, users=users, channel="email", template="bench-email", tag="p"
            )
            accept[f"c{connections}"] = {
                "get_health": health,
                "post_notifications": post,
                "post_to_get_ratio": round(post["requests_per_s"] / max(health["requests_per_s"], 1), 2),
            }
        accept["api_rss_mb"] = rss_mb(running["web"].pid)
        # Many notifications per request: 100 and 1,000 items, at 8 connections (each request is large).
        for size in (100, 1000):
            run = wrk(
                "batch", 8, seconds, users=users, channel="email", template="bench-email", tag="b", batch=size
            )
            accept[f"batch{size}"] = {
                **run,
                "items_per_request": size,
                "notifications_per_s": run["requests_per_s"] * size,
            }
        single = accept["c16"]["post_notifications"]["requests_per_s"]
        for size in (100, 1000):
            accept[f"batch{size}"]["ratio_to_single_send"] = round(
                accept[f"batch{size}"]["notifications_per_s"] / max(single, 1), 1
            )
    purge("email.queue")
    from notifications.models import Notification

    Notification.objects.all().delete()
    return accept


# 4. End to end ------------------------------------------------------------------------------------------


def end_to_end(
    channel: str,
    seconds: int,
    connections: int,
    users: list[str],
    received: "Received",
    workers: int,
) -> dict[str, Any]:
    from notifications.models import Notification

    template = f"bench-{channel}"
    with processes(system_commands(**{channel: workers}), os.environ.copy(), LOGS) as running:  # type: ignore[arg-type]
        wait_http(f"http://127.0.0.1:{PORT}/health")
        accepted = wrk(
            "post", connections, seconds, users=users, channel=channel, template=template, tag=channel
        )
        # Requests in flight when wrk stopped may still commit: count what the database holds.
        time.sleep(1)
        ids = {
            str(i) for i in Notification.objects.filter(template_code=template).values_list("id", flat=True)
        }
        memory = {name: rss_mb(process.pid) for name, process in running.items()}
        deadline = time.monotonic() + 300
        while ids - received.times().keys() and time.monotonic() < deadline:
            time.sleep(0.2)
    received_at = received.times()
    rows = Notification.objects.filter(id__in=ids).values_list("id", "created_at")
    latencies = [received_at[str(i)] - created.timestamp() for i, created in rows if str(i) in received_at]
    first = min(created.timestamp() for _, created in rows)
    last = max(received_at[i] for i in ids if i in received_at)
    delivered = len(latencies)
    Notification.objects.filter(template_code=template).delete()
    return {
        "accepted": len(ids),
        "delivered": delivered,
        "lost": len(ids) - delivered,
        "accept_rate_per_s": accepted["requests_per_s"],
        "delivered_per_s": round(delivered / (last - first)),
        "latency_p50_ms": round(percentile(latencies, 50) * 1000),
        "latency_p99_ms": round(percentile(latencies, 99) * 1000),
        "rss_mb": memory,
        "worker_processes": workers,
    }


# 5. Draining what is due, against the providers' own rate ---------------------------------------------


class Received:
    """What reached a stand-in (the SMTP sink's or the FCM stand-in's process, by their /stats): when each
    notification's first message arrived, and how many arrived."""

    def __init__(self, stats_url: str) -> None:
        self.stats_url = stats_url

    def _stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.stats_url}/stats", timeout=10) as response:  # noqa: S310 - local
            return dict(json.loads(response.read()))

    def reset(self) -> None:
        """Forgets what arrived so far (the SMTP sink's POST /reset), so a step's polls stay small."""
        request = urllib.request.Request(f"{self.stats_url}/reset", data=b"", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local
            response.read()

    def times(self) -> dict[str, float]:
        return dict(self._stats()["received_at"])

    def duplicates(self, ids: set[str]) -> int:
        return sum(n - 1 for key, n in self._stats()["counts"].items() if key in ids and n > 1)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its live descendants, and of the children it reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    out = subprocess.run(["ps", "-o", "pid=,ppid=", "-e"], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        child, parent = (int(x) for x in line.split())
        children.setdefault(parent, []).append(child)
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
        total += (utime + stime + cutime + cstime) / tick
        stack.extend(children.get(current, []))
    return total


def raw_provider_rate(channel: str, processes_count: int, count: int) -> dict[str, Any]:
    """The provider code alone: pre-built messages to the same stand-in, from as many processes."""
    runs = [
        subprocess.Popen(
            [PYTHON, "bench/raw_provider.py", channel, "--count", str(count), "--batch", "100"],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes_count)
    ]
    outputs = [json.loads(run.communicate(timeout=600)[0].strip().splitlines()[-1]) for run in runs]
    seconds = max(o["seconds"] for o in outputs)
    return {"per_s": round(processes_count * count / seconds), "processes": processes_count}


def seed_due(channel: str, count: int, users: list[str], tag: str, lane: str = "normal") -> list[str]:
    """`count` accepted notifications with their outbox entries due now, written directly (API idle)."""
    from notifications.models import Notification, NotificationStatus, OutboxEntry

    variables = {"name": "Ada", "code": "7"} if channel == "email" else {"title": "Alert", "message": "Disk"}
    rows = Notification.objects.bulk_create(
        [
            Notification(
                caller="key:bench", request_id=f"{tag}-{i}", request_hash="h", user_id=users[i % len(users)],
                notification_type=channel, template_code=f"bench-{channel}", variables=variables,
                status=NotificationStatus.PENDING, lane=lane,
            )
            for i in range(count)
        ],
        batch_size=1000,
    )  # fmt: skip
    OutboxEntry.objects.bulk_create(
        [OutboxEntry(notification=row, lane=lane) for row in rows], batch_size=1000
    )
    return [str(row.id) for row in rows]


def drain(
    channel: str,
    count: int,
    users: list[str],
    received: Received,
    workers: int,
    *,
    profile: Path | None,
    webhook_workers: int = 0,
    then: Callable[[set[str]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`count` due notifications drained by the channel's pool; `then` runs once they all arrived, with
    the processes still running, and adds what it answers."""
    from notifications.models import Notification

    ids = set(seed_due(channel, count, users, f"drain-{channel}-{time.time_ns()}"))
    commands = system_commands(web=False, webhook=webhook_workers, **{channel: workers})  # type: ignore[arg-type]
    worker_name = f"{channel}_worker"
    with processes(commands, os.environ.copy(), LOGS) as running:
        deadline = time.monotonic() + 600
        while not ids & received.times().keys() and time.monotonic() < deadline:
            time.sleep(0.01)
        cpu_start = cpu_seconds(running[worker_name].pid)
        relay_start = cpu_seconds(running["relay"].pid)
        recorder = profile_start(running[worker_name].pid, profile, channel) if profile else None
        while ids - received.times().keys() and time.monotonic() < deadline:
            time.sleep(0.2)
        cpu = cpu_seconds(running[worker_name].pid) - cpu_start
        relay_cpu = cpu_seconds(running["relay"].pid) - relay_start
        if recorder is not None:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=60)
        extra = then(ids) if then is not None else {}
    times = received.times()
    arrived = [times[i] for i in ids if i in times]
    delivered = len(arrived)
    duplicates = received.duplicates(ids)
    Notification.objects.filter(id__in=ids).delete()
    seconds = max(arrived) - min(arrived) if delivered > 1 else float("nan")
    return {
        "queued": len(ids),
        "delivered": delivered,
        "lost": len(ids) - delivered,
        "duplicated": duplicates,
        "delivered_per_s": round(delivered / seconds) if delivered > 1 else 0,
        "worker_processes": workers,
        "worker_cpu_ms_per_notification": round(1000 * cpu / max(delivered, 1), 3),
        "relay_cpu_ms_per_notification": round(1000 * relay_cpu / max(delivered, 1), 3),
        **extra,
    }


def profile_start(pid: int, folder: Path, channel: str) -> "subprocess.Popen[bytes]":
    """py-spy sampling the worker pool (the main process and its children) until interrupted."""
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(Path(PYTHON).parent / "py-spy"), "record", "--pid", str(pid), "--subprocesses", "--format",
         "raw", "--output", str(folder / f"{channel}-drain.folded"), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def trickle(users: list[str], received: Received, rate: int, seconds: int, workers: int) -> dict[str, Any]:
    """Accept-to-inbox latency when arrivals are far below the drain rate: one email every 1/rate s."""

    from notifications.models import Notification

    ids: list[str] = []
    with processes(system_commands(email=workers), os.environ.copy(), LOGS):
        wait_http(f"http://127.0.0.1:{PORT}/health")
        time.sleep(2)  # the workers' pools up
        interval = 1 / rate
        next_at = time.monotonic()
        for i in range(rate * seconds):
            ids.append(send_one(users[i % len(users)], tag="trickle"))
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        deadline = time.monotonic() + 60
        while set(ids) - received.times().keys() and time.monotonic() < deadline:
            time.sleep(0.1)
    times = received.times()
    created = dict(Notification.objects.filter(id__in=ids).values_list("id", "created_at"))
    latencies = [times[i] - created[uuid.UUID(i)].timestamp() for i in ids if i in times]
    Notification.objects.filter(id__in=ids).delete()
    return {
        "sent": len(ids),
        "delivered": len(latencies),
        "rate_per_s": rate,
        "latency_p50_ms": round(percentile(latencies, 50) * 1000),
        "latency_p99_ms": round(percentile(latencies, 99) * 1000),
        "latency_max_ms": round(max(latencies) * 1000) if latencies else None,
        "within_500_ms": round(sum(1 for x in latencies if x <= 0.5) / max(len(latencies), 1), 3),
    }


# 6. One request, many recipients: a topic's fan-out --------------------------------------------------


def seed_topic(subscribers: int) -> str:
    """A topic with `subscribers` new users (email on, no language), written set-based in SQL."""
    from django.db import connection

    from notifications.models import Topic, TopicSubscription
    from users.models import User

    key = f"bench-fanout-{time.time_ns()}"
    topic = Topic.objects.create(key=key, name="Bench fan-out")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH made AS (
                INSERT INTO {User._meta.db_table}
                    (id, password, is_superuser, name, email, preferences, language, is_active, is_staff,
                     created_at, updated_at)
                SELECT gen_random_uuid(), '!', false, 'Fan ' || i, %s || '-' || i || '@example.com',
                       '{{"email": true, "push": true}}'::jsonb, '', true, false, now(), now()
                  FROM generate_series(1, %s) AS i
                RETURNING id
            )
            INSERT INTO {TopicSubscription._meta.db_table} (topic_id, user_id, created_at)
            SELECT %s, id, now() FROM made
            """,  # noqa: S608 - table names come from the models, values are parameters
            [key, subscribers, topic.id],
        )
        # As autovacuum would soon: the planner's statistics of the tables a bulk load just grew.
        cursor.execute(f"ANALYZE {User._meta.db_table}, {TopicSubscription._meta.db_table}")
    return key


def fanout(subscribers: int, received: Received, workers: int) -> dict[str, Any]:
    """A send to a topic of `subscribers`: how fast the relay creates their notifications, and how fast
    and how completely they are delivered, with the whole system running."""
    from notifications.models import Broadcast, Notification

    key = seed_topic(subscribers)
    with processes(system_commands(email=workers), os.environ.copy(), LOGS) as running:
        wait_http(f"http://127.0.0.1:{PORT}/health")
        time.sleep(2)  # the workers' pools up
        body = json.dumps(
            {
                "notification_type": "email", "topic": key, "template_code": "bench-email",
                "variables": {"name": "everyone", "code": "7"}, "request_id": f"fanout-{time.time_ns()}",
            }
        ).encode()  # fmt: skip
        request = urllib.request.Request(
            f"http://127.0.0.1:{PORT}/api/v1/notifications/",
            data=body,
            headers={"Content-Type": "application/json", "X-API-Key": os.environ["BENCH_API_KEY"]},
        )
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - a local URL
            answer = json.loads(response.read())["data"]
        answered = time.monotonic() - started
        relay_start = cpu_seconds(running["relay"].pid)
        deadline = time.monotonic() + 900
        broadcast = Broadcast.objects.get(pk=answer["broadcast_id"])
        while broadcast.status != "complete" and time.monotonic() < deadline:
            time.sleep(0.05)
            broadcast.refresh_from_db()
        expanded = time.monotonic() - started
        relay_cpu = cpu_seconds(running["relay"].pid) - relay_start
        ids = {str(i) for i in Notification.objects.filter(broadcast=broadcast).values_list("id", flat=True)}
        while ids - received.times().keys() and time.monotonic() < deadline:
            time.sleep(1)
        delivered_in = time.monotonic() - started
    times = received.times()
    delivered = len(ids & times.keys())
    duplicates = received.duplicates(ids)
    Notification.objects.filter(broadcast=broadcast).delete()
    return {
        "subscribers": subscribers,
        "answered_ms": round(answered * 1000, 1),
        "recipients": answer["recipients"],
        "created": len(ids),
        "created_per_s": round(len(ids) / expanded),
        "relay_cpu_ms_per_notification_created": round(1000 * relay_cpu / max(len(ids), 1), 3),
        "delivered": delivered,
        "lost": len(ids) - delivered,
        "duplicated": duplicates,
        "delivered_per_s_from_the_request": round(delivered / delivered_in),
        "worker_processes": workers,
    }


# 7. Lanes: urgent sends while a bulk backlog drains ------------------------------------------------


def send_one(user_id: str, *, tag: str, priority: int = 5) -> str:
    """One email through the API (a new request_id); answers its notification id."""
    body = json.dumps(
        {
            "notification_type": "email", "user_id": user_id, "template_code": "bench-email",
            "variables": {"name": "Ada", "code": "7"}, "request_id": f"{tag}-{time.time_ns()}",
            "priority": priority,
        }
    ).encode()  # fmt: skip
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/api/v1/notifications/",
        data=body,
        headers={"Content-Type": "application/json", "X-API-Key": os.environ["BENCH_API_KEY"]},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a local URL
        return str(json.loads(response.read())["data"]["notification_id"])


def _bulk_drain(
    bulk: int, users: list[str], received: Received, workers: int, *, urgent: int
) -> dict[str, Any]:
    """`bulk` bulk-lane emails due at once, drained by the email pool beside an urgent pool; with `urgent`
    > 0, that many urgent emails are sent through the API one per 200 ms once the drain is under way."""
    from notifications.models import Notification

    received.reset()  # polled below while the bulk drains: only this run's arrivals
    ids = set(seed_due("email", bulk, users, f"lanes-{time.time_ns()}", lane="bulk"))
    urgent_ids: list[str] = []
    commands = system_commands(email=workers, email_urgent=1)
    with processes(commands, os.environ.copy(), LOGS):
        wait_http(f"http://127.0.0.1:{PORT}/health")
        deadline = time.monotonic() + 600
        while len(ids & received.times().keys()) < bulk // 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        next_at = time.monotonic()
        for index in range(urgent):
            urgent_ids.append(send_one(users[index % len(users)], tag="urgent", priority=9))
            next_at += 0.2
            time.sleep(max(0.0, next_at - time.monotonic()))
        everything = ids | set(urgent_ids)
        while everything - received.times().keys() and time.monotonic() < deadline:
            time.sleep(0.5)
    times = received.times()
    arrived = sorted(times[i] for i in ids if i in times)
    created = dict(Notification.objects.filter(id__in=urgent_ids).values_list("id", "created_at"))
    latencies = [times[i] - created[uuid.UUID(i)].timestamp() for i in urgent_ids if i in times]
    duplicates = received.duplicates(everything)
    Notification.objects.filter(id__in=everything).delete()
    vacuum_delivery_tables()  # so the next run does not meet autovacuum mid-drain
    return {
        "bulk_delivered_per_s": round(len(arrived) / (arrived[-1] - arrived[0])) if len(arrived) > 1 else 0,
        "urgent": len(urgent_ids),
        "urgent_latencies_ms": [latency * 1000 for latency in latencies],
        "lost": len(everything) - len(arrived) - len(latencies),
        "duplicated": duplicates,
    }


def vacuum_delivery_tables() -> None:
    from django.db import connection

    from notifications.models import DeliveryAttempt, Notification, OutboxEntry

    tables = ", ".join(model._meta.db_table for model in (Notification, DeliveryAttempt, OutboxEntry))
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {tables}")


def lanes(bulk: int, urgent: int, users: list[str], received: Received, workers: int) -> dict[str, Any]:
    """The bulk drain alone (the baseline) and with urgent sends through it, alternated twice so that
    neither side gets the warmer or the cooler turn; the rates are the means, the latencies pooled."""
    vacuum_delivery_tables()  # what the steps before deleted is not vacuumed during the first run
    alone, mixed = [], []
    for _ in range(2):
        alone.append(_bulk_drain(bulk, users, received, workers, urgent=0))
        mixed.append(_bulk_drain(bulk, users, received, workers, urgent=urgent))
    baseline = sum(run["bulk_delivered_per_s"] for run in alone) / len(alone)
    rate = sum(run["bulk_delivered_per_s"] for run in mixed) / len(mixed)
    latencies = [ms for run in mixed for ms in run["urgent_latencies_ms"]]
    return {
        "bulk": bulk,
        "runs_each": len(alone),
        "baseline_bulk_delivered_per_s": round(baseline),
        "baseline_runs": [run["bulk_delivered_per_s"] for run in alone],
        "bulk_delivered_per_s": round(rate),
        "mixed_runs": [run["bulk_delivered_per_s"] for run in mixed],
        "bulk_rate_drop": round(1 - rate / max(baseline, 1), 3),
        "urgent": sum(run["urgent"] for run in mixed),
        "urgent_delivered": len(latencies),
        "urgent_latency_p50_ms": round(percentile(latencies, 50)) if latencies else None,
        "urgent_latency_p99_ms": round(percentile(latencies, 99)) if latencies else None,
        "urgent_latency_max_ms": round(max(latencies)) if latencies else None,
        "lost": sum(run["lost"] for run in [*alone, *mixed]),
        "duplicated": sum(run["duplicated"] for run in [*alone, *mixed]),
        "worker_processes": workers,
        "urgent_worker_processes": 1,
    }


def webhooks(count: int, users: list[str], received: Received, workers: int) -> dict[str, Any]:
    """The email drain with a status webhook endpoint registered (every sent email reported, in requests
    of 50 events, to a receiver that verifies each signature) beside the same drain without one,
    alternated twice: what writing and sending the events costs delivery, and how soon they follow."""
    from notifications.models import WebhookEndpoint
    from notifications.webhooks.endpoints import webhook_endpoint_create
    from standins.webhook_receiver import WebhookReceiver

    receiver = WebhookReceiver()
    receiver.start()

    def events_arrive(ids: set[str]) -> dict[str, Any]:
        started = time.monotonic()
        deadline = started + 300
        while time.monotonic() < deadline and len(ids & set(receiver.by_notification())) < len(ids):
            time.sleep(0.1)
        reported = receiver.by_notification()
        return {
            "events_reported": len(ids & set(reported)),
            "events_repeated": sum(len(types) - 1 for nid, types in reported.items() if nid in ids),
            "events_seconds_after_the_last_email": round(time.monotonic() - started, 2),
            "signatures_refused": receiver.refused_signatures,
        }

    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    try:
        for with_hook in (False, True, False, True):
            received.reset()
            receiver.reset()
            vacuum_delivery_tables()
            if with_hook:
                created = webhook_endpoint_create(
                    url=receiver.url, events=["notification.sent"], max_events_per_request=50, by="bench"
                )
                receiver.secret = created.secret
            result = drain(
                "email", count, users, received, workers, profile=None,
                webhook_workers=2 if with_hook else 0, then=events_arrive if with_hook else None,
            )  # fmt: skip
            WebhookEndpoint.objects.all().delete()
            runs["with" if with_hook else "without"].append(result)
    finally:
        receiver.stop()
    best = {kind: max(r["delivered_per_s"] for r in results) for kind, results in runs.items()}
    return {
        "runs": runs,
        "emails_per_s_without_endpoint": best["without"],
        "emails_per_s_with_endpoint": best["with"],
        "ratio_with_to_without": round(best["with"] / max(best["without"], 1), 2),
        "lost": sum(r["lost"] for results in runs.values() for r in results),
        "duplicated": sum(r["duplicated"] for results in runs.values() for r in results),
        "events_missing": sum(r["delivered"] - r["events_reported"] for r in runs["with"]),
        "events_seconds_after_the_last_email": max(
            r["events_seconds_after_the_last_email"] for r in runs["with"]
        ),
    }


def fcm_standin_capacity(url: str, seconds: int) -> int:
    """Requests/s the FCM stand-in answers to wrk's sends (it must be far above the system's rate)."""
    output = subprocess.run(
        ["wrk", "-t", "2", "-c", "32", "-d", f"{seconds}s", "-s", str(ROOT / "bench" / "fcm_send.lua"),
         f"{url}/v1/projects/notifier-test/messages:send"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(line for line in output.splitlines() if line.startswith("Requests/sec:"))
    return round(float(line.split()[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="Length of each load run.")
    parser.add_argument("--quick", action="store_true", help="Short runs, for a smoke check.")
    parser.add_argument("--only", help=f"Comma-separated steps to run (default all): {', '.join(STEPS)}.")
    parser.add_argument(
        "--profile", help="A folder: py-spy records each drain's worker pool there (folded stacks)."
    )
    args = parser.parse_args()
    seconds = 3 if args.quick else args.seconds

    from standins.boundary import free_port, service_account_write

    RESULTS.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    # The stand-ins run in processes of their own, so they are never what limits the measured rates.
    smtp_port, smtp_stats_port, fcm_port = free_port(), free_port(), free_port()
    fcm_url, smtp_stats_url = f"http://127.0.0.1:{fcm_port}", f"http://127.0.0.1:{smtp_stats_port}"
    standin_log = open(LOGS / "standins.log", "wb")  # noqa: SIM115 - closed at the end
    standins = [
        subprocess.Popen(
            [PYTHON, "-m", "standins.smtp_fast", "--port", str(smtp_port),
             "--http-port", str(smtp_stats_port)],
            cwd=ROOT, stdout=standin_log, stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [PYTHON, "-m", "standins.fcm_fast", "--port", str(fcm_port)],
            cwd=ROOT, stdout=standin_log, stderr=subprocess.STDOUT,
        ),
    ]  # fmt: skip
    credentials = service_account_write(RESULTS / "bench-service-account.json", endpoint=fcm_url)
    os.environ.update(
        bench_env(
            PORT=str(PORT),
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(smtp_port),
            FIREBASE_CREDENTIALS=str(credentials),
            FCM_ENDPOINT=fcm_url,
            PUSH_PROVIDERS="auto",
            NOTIFICATION_RATE_LIMIT_PER_MINUTE="0",
            # The webhooks step's receiver listens on 127.0.0.1 over plain http.
            WEBHOOK_ALLOW_HTTP="true",
            WEBHOOK_ALLOW_PRIVATE="true",
        )
    )
    wait_http(f"{fcm_url}/stats")
    wait_http(f"{smtp_stats_url}/stats")
    print("preparing the benchmark database and broker vhost...", flush=True)
    prepare(dict(os.environ))
    users, key = seed(200)
    os.environ["BENCH_API_KEY"] = key
    emails, pushes = Received(smtp_stats_url), Received(fcm_url)
    drain_count = 1000 if args.quick else 5000
    raw_count = 500 if args.quick else 2000

    results: dict[str, Any] = {"machine": machine(), "seconds_per_run": seconds}
    wanted = set(args.only.split(",")) if args.only else set(STEPS)
    unknown = wanted - set(STEPS)
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; choose from {', '.join(STEPS)}")
    email_workers = int(os.environ.get("BENCH_EMAIL_WORKERS", "4"))
    push_workers = int(os.environ.get("BENCH_PUSH_WORKERS", "2"))
    profile = Path(args.profile).resolve() if args.profile else None

    def step(name: str, title: str) -> bool:
        if name in wanted:
            print(f"{STEPS.index(name) + 1}/{len(STEPS)} {title}...", flush=True)
        return name in wanted

    if step("broker", "broker ceiling"):
        results["broker"] = broker_ceiling(2000 if args.quick else 10000)
    if step("celery", "celery no-op drain"):
        results["celery"] = celery_drain(2000 if args.quick else 10000, dict(os.environ), concurrency=2)
    if step("accept", "accept path"):
        results["accept"] = accept_path(users, seconds)
    if step("email_drain", "email: the provider code alone (baseline), then draining queued notifications"):
        email_raw = raw_provider_rate("email", email_workers, raw_count)
        results["email_drain"] = {
            **drain("email", drain_count, users, emails, email_workers, profile=profile),
            "baseline": email_raw,
        }
    if step("push_drain", "push: the stand-in's capacity, the provider code alone, then draining"):
        results["fcm_standin_requests_per_s"] = fcm_standin_capacity(fcm_url, 3)
        push_raw = raw_provider_rate("push", push_workers, raw_count)
        results["push_drain"] = {
            **drain("push", drain_count, users, pushes, push_workers, profile=profile),
            "baseline": push_raw,
        }
    for name in ("email_drain", "push_drain"):
        if name in results:
            result = results[name]
            result["ratio_to_baseline"] = round(
                result["delivered_per_s"] / max(result["baseline"]["per_s"], 1), 2
            )
    if step("end_to_end", "end to end under load (accepting at 16 connections while delivering)"):
        results["email"] = end_to_end("email", seconds, 16, users, emails, workers=email_workers)
        results["push"] = end_to_end("push", seconds, 16, users, pushes, workers=push_workers)
        if "broker" in results:
            ceiling = results["broker"]["publish_confirmed_per_s"]
            for channel in ("email", "push"):
                results[channel]["fraction_of_broker_publish_ceiling"] = round(
                    results[channel]["delivered_per_s"] / ceiling, 3
                )
    if step("trickle", "a trickle of 20 emails/s"):
        results["trickle"] = trickle(
            users, emails, rate=20, seconds=5 if args.quick else 10, workers=email_workers
        )
    if step("fanout", "a topic of 100,000 subscribers: fan-out and delivery"):
        results["fanout"] = fanout(10_000 if args.quick else 100_000, emails, workers=email_workers)
        if "accept" in results:
            single = results["accept"]["c16"]["post_notifications"]["requests_per_s"]
            results["fanout"]["ratio_to_single_send"] = round(
                results["fanout"]["created_per_s"] / max(single, 1), 1
            )
        if "email_drain" in results:
            results["fanout"]["delivery_ratio_to_email_drain"] = round(
                results["fanout"]["delivered_per_s_from_the_request"]
                / max(results["email_drain"]["delivered_per_s"], 1),
                2,
            )
    if step("lanes", "lanes: 50 urgent emails, one per 200 ms, through a 20,000-email bulk drain"):
        results["lanes"] = lanes(
            2_000 if args.quick else 20_000, 10 if args.quick else 50, users, emails, workers=email_workers
        )
    if step("webhooks", "status webhooks: the email drain with an endpoint registered, and without"):
        results["webhooks"] = webhooks(drain_count, users, emails, workers=email_workers)
    for standin in standins:
        standin.terminate()
        standin.wait(timeout=10)
    standin_log.close()

    # A partial run (--only) is written beside the full one, not over it.
    name = "latest.json" if wanted == set(STEPS) else "partial.json"
    (RESULTS / name).write_text(json.dumps(results, indent=2))
    print_table(results, RESULTS / name)
    return 0


def print_table(r: dict[str, Any], written: Path) -> None:
    m = r["machine"]
    print(
        f"\nmachine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
        f"{m['postgresql']}, {m['redis']}, RabbitMQ {m['rabbitmq']}, commit {m['git']}"
    )
    print(f"{'measure':58} {'value':>12}")
    rows: list[tuple[str, Any]] = []
    if "broker" in r:
        rows += [
            ("broker: publish, persistent + confirm each (msg/s)", r["broker"]["publish_confirmed_per_s"]),
            ("broker: consume, prefetch 100 (msg/s)", r["broker"]["consume_per_s"]),
        ]
    if "celery" in r:
        rows.append(
            (
                f"celery: no-op drain, {r['celery']['concurrency']} processes (tasks/s)",
                r["celery"]["noop_tasks_per_s"],
            )
        )
    for c in ("c16", "c64") if "accept" in r else ():
        a = r["accept"][c]
        g, p = a["get_health"], a["post_notifications"]
        n = c[1:]
        rows += [
            (
                f"GET /health, {n} conn: req/s | p50/p95/p99 ms | errors",
                f"{g['requests_per_s']} | {g['p50_ms']}/{g['p95_ms']}/{g['p99_ms']} | {g['errors']}",
            ),
            (
                f"POST /notifications, {n} conn: req/s | p50/p95/p99 ms | errors",
                f"{p['requests_per_s']} | {p['p50_ms']}/{p['p95_ms']}/{p['p99_ms']} | {p['errors']}",
            ),
            (f"POST / GET rate ratio, {n} conn", a["post_to_get_ratio"]),
        ]
    for channel in ("email", "push") if "email" in r else ():
        e = r[channel]
        rows += [
            (f"{channel}: accepted / delivered / lost", f"{e['accepted']} / {e['delivered']} / {e['lost']}"),
            (f"{channel}: delivered/s ({e['worker_processes']} worker processes)", e["delivered_per_s"]),
            (
                f"{channel}: accept-to-inbox latency p50 / p99 (ms)",
                f"{e['latency_p50_ms']} / {e['latency_p99_ms']}",
            ),
            (
                f"{channel}: delivered/s as a fraction of the broker publish ceiling",
                e.get("fraction_of_broker_publish_ceiling", "-"),
            ),
            (f"{channel}: resident memory MiB", ", ".join(f"{k} {v}" for k, v in e["rss_mb"].items())),
        ]
    for name in ("email_drain", "push_drain"):
        if name not in r:
            continue
        d = r[name]
        channel = name.split("_")[0]
        rows += [
            (
                f"{channel} drain: queued / delivered / lost / duplicated",
                f"{d['queued']} / {d['delivered']} / {d['lost']} / {d['duplicated']}",
            ),
            (
                f"{channel} drain: delivered/s ({d['worker_processes']} worker processes)",
                d["delivered_per_s"],
            ),
            (
                f"{channel} provider code alone, {d['baseline']['processes']} processes (msg/s)",
                d["baseline"]["per_s"],
            ),
            (f"{channel} drain / provider code alone", d["ratio_to_baseline"]),
            (
                f"{channel} drain: worker CPU ms per notification (relay)",
                f"{d['worker_cpu_ms_per_notification']} ({d['relay_cpu_ms_per_notification']})",
            ),
        ]
    if "fcm_standin_requests_per_s" in r:
        rows.append(("FCM stand-in capacity (req/s, wrk 32 conn)", r["fcm_standin_requests_per_s"]))
    if "trickle" in r:
        t = r["trickle"]
        rows += [
            (f"trickle {t['rate_per_s']}/s: sent / delivered", f"{t['sent']} / {t['delivered']}"),
            (
                "trickle: accept-to-inbox p50 / p99 / max (ms)",
                f"{t['latency_p50_ms']} / {t['latency_p99_ms']} / {t['latency_max_ms']}",
            ),
            ("trickle: share within 500 ms", t["within_500_ms"]),
        ]
    for size in (100, 1000) if "accept" in r else ():
        b = r["accept"][f"batch{size}"]
        rows += [
            (
                f"POST /notifications/batch, {size} items, 8 conn: notifications/s | p99 ms | errors",
                f"{b['notifications_per_s']} | {b['p99_ms']} | {b['errors']}",
            ),
            (f"batch of {size} / single send (notifications/s)", b["ratio_to_single_send"]),
        ]
    if "accept" in r:
        rows.append(("API resident memory under load (MiB)", r["accept"]["api_rss_mb"]))
    if "fanout" in r:
        f = r["fanout"]
        rows += [
            (f"topic send to {f['subscribers']}: answered in (ms)", f["answered_ms"]),
            (
                "fan-out: notifications created/s (relay CPU ms each)",
                f"{f['created_per_s']} ({f['relay_cpu_ms_per_notification_created']})",
            ),
            ("fan-out created/s / single send req/s", f.get("ratio_to_single_send", "-")),
            (
                "fan-out: created / delivered / lost / duplicated",
                f"{f['created']} / {f['delivered']} / {f['lost']} / {f['duplicated']}",
            ),
            (
                f"fan-out: delivered/s from the request ({f['worker_processes']} workers)",
                f["delivered_per_s_from_the_request"],
            ),
            ("fan-out delivery / email drain rate", f.get("delivery_ratio_to_email_drain", "-")),
        ]
    if "lanes" in r:
        lane = r["lanes"]
        rows += [
            (
                f"lanes: bulk drain alone / with urgent (emails/s, mean of {lane['runs_each']} each)",
                f"{lane['baseline_bulk_delivered_per_s']} / {lane['bulk_delivered_per_s']}",
            ),
            ("lanes: bulk drain rate drop (target < 0.15)", lane["bulk_rate_drop"]),
            (
                "lanes: urgent accept-to-inbox p50 / p99 / max (ms; p99 target < 1000)",
                f"{lane['urgent_latency_p50_ms']} / {lane['urgent_latency_p99_ms']} / "
                f"{lane['urgent_latency_max_ms']}",
            ),
            ("lanes: urgent sent / delivered", f"{lane['urgent']} / {lane['urgent_delivered']}"),
            ("lanes: lost / duplicated", f"{lane['lost']} / {lane['duplicated']}"),
        ]
    if "webhooks" in r:
        hooks = r["webhooks"]
        rows += [
            (
                "webhooks: email drain without / with an endpoint (emails/s)",
                f"{hooks['emails_per_s_without_endpoint']} / {hooks['emails_per_s_with_endpoint']}",
            ),
            ("webhooks: with / without", hooks["ratio_with_to_without"]),
            ("webhooks: events missing / last event after last email (s)",
             f"{hooks['events_missing']} / {hooks['events_seconds_after_the_last_email']}"),
            ("webhooks: emails lost / duplicated", f"{hooks['lost']} / {hooks['duplicated']}"),
        ]  # fmt: skip
    for label, value in rows:
        print(f"{label:58} {value!s:>12}")
    print(f"\nwritten to {written}")


if __name__ == "__main__":
    sys.exit(main())
