"""The chaos suite: faults injected into the running system, and what became of every notification.

Each scenario reports accepted / delivered / lost / duplicated. `make test` runs a short version of
each; `make chaos` runs them at full size (CHAOS_SCALE=full) and prints the table.
Goal: nothing lost; duplicates no more than the kills that could cause them.
"""

import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import psycopg
import pytest
from django.db import close_old_connections, connection

from notifications.channels import Channel
from notifications.models import (
    Broadcast,
    BroadcastStatus,
    Notification,
    NotificationStatus,
    Topic,
    TopicSubscription,
)
from notifications.services.dlq import dlq_list
from notifications.tests.conftest import queue_depth
from standins.boundary import wait_for
from users.tests.factories import UserFactory, users_bulk

FULL = os.environ.get("CHAOS_SCALE", "short") == "full"
pytestmark = [pytest.mark.workers, pytest.mark.chaos, pytest.mark.timeout(1200 if FULL else 300)]


@dataclass(frozen=True)
class Tally:
    scenario: str
    accepted: int
    delivered: int
    lost: int
    duplicated: int
    faults: int
    note: str = ""


RESULTS: list[Tally] = []


def _tally(scenario: str, ids: list[str], smtp_server, *, faults: int, note: str = "") -> Tally:
    received = smtp_server.handler.counts()
    counts = [received[i] for i in ids]
    tally = Tally(
        scenario=scenario,
        accepted=len(ids),
        delivered=sum(1 for c in counts if c >= 1),
        lost=sum(1 for c in counts if c == 0),
        duplicated=sum(c - 1 for c in counts if c > 1),
        faults=faults,
        note=note,
    )
    RESULTS.append(tally)
    print(f"\nCHAOS {tally}")
    return tally


def _body(user_id, request_id: str) -> dict:
    return {
        "notification_type": "email",
        "user_id": str(user_id),
        "template_code": "welcome",
        "variables": {"name": "Ada", "code": "7"},
        "request_id": request_id,
    }


def _post(client, body: dict, *, attempts: int = 50) -> tuple[str, float]:
    """Posts until the API answers 202/200 (a client retries 503s with the same request_id)."""
    started = time.monotonic()
    for _ in range(attempts):
        response = client.post("/api/v1/notifications/", body, format="json")
        if response.status_code in (200, 202):
            return response.json()["data"]["notification_id"], time.monotonic() - started
        assert response.status_code == 503, response.content
        # Django's test client skips the request cycle's recycling of broken connections (gunicorn
        # does it at every request boundary): do it here.
        close_old_connections()
        time.sleep(0.2)
    raise AssertionError(f"not accepted after {attempts} attempts")


def _all_sent(ids: list[str], timeout: float) -> None:
    def done() -> bool:
        return Notification.objects.filter(id__in=ids, status=NotificationStatus.SENT).count() == len(ids)

    try:
        wait_for(done, timeout=timeout, interval=0.5, message=f"{len(ids)} notifications sent")
    except AssertionError:
        statuses = Counter(Notification.objects.filter(id__in=ids).values_list("status", flat=True))
        errors = Counter(
            Notification.objects.filter(id__in=ids).exclude(error="").values_list("error", flat=True)
        )
        raise AssertionError(f"not all sent: {dict(statuses)}; errors: {errors.most_common(3)}") from None


def test_chaos_killing_worker_processes(pipeline, service_client, smtp_server, email_template):
    count = 2000 if FULL else 120
    user = UserFactory(email="killed@example.com")
    # A provider that takes a moment per message, so that kills land on deliveries in progress.
    smtp_server.handler.rcpt_delay["killed@example.com"] = 0.05
    ids = [_post(service_client, _body(user.id, f"kill-{i}"))[0] for i in range(count)]
    min_kills = 20 if FULL else 4

    def sent() -> int:
        return Notification.objects.filter(id__in=ids, status=NotificationStatus.SENT).count()

    # Children are killed once the pool is working: a child killed while Celery is still starting its
    # pool makes the worker give up ("Could not start worker processes"), a start-up failure that a
    # supervisor restarts, not a delivery fault.
    wait_for(lambda: sent() >= 5, timeout=60, message="the pool to start delivering")
    kills = 0
    stop = threading.Event()

    def killer() -> None:
        nonlocal kills
        while not stop.wait(1.0 if FULL else 0.5):
            children = pipeline.children("email")
            if children:
                os.kill(random.choice(children), signal.SIGKILL)
                kills += 1

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        wait_for(lambda: sent() >= count // 2 and kills >= min_kills, timeout=300, message="kills, half sent")
    finally:
        stop.set()
        thread.join()
    # And the worker's main process: its unacknowledged messages return to the queue.
    pipeline.stop("email", sig=signal.SIGKILL)
    kills += 1
    pipeline.start("email")
    _all_sent(ids, timeout=600 if FULL else 240)

    tally = _tally("kill -9 of worker processes", ids, smtp_server, faults=kills)
    assert tally.lost == 0
    assert tally.duplicated <= kills
    assert kills > min_kills


def test_chaos_one_pool_child_killed_then_nothing_stalls(
    pipeline, service_client, smtp_server, email_template
):
    """One `kill -9` of a pool child, then no more faults: whatever the dead child held (its batch, and
    what the worker's main process had handed it) is delivered within the stall window, not when the
    worker next restarts or RabbitMQ's 30-minute consumer timeout fires."""
    from notifications.tests.conftest import WORKER_SETTINGS

    stall_seconds = int(WORKER_SETTINGS["DELIVERY_STALL_SECONDS"])
    count = 300 if FULL else 60
    user = UserFactory(email="one-kill@example.com")
    smtp_server.handler.rcpt_delay["one-kill@example.com"] = 0.02
    ids = [_post(service_client, _body(user.id, f"one-kill-{i}"))[0] for i in range(count)]
    wait_for(
        lambda: Notification.objects.filter(id__in=ids, status=NotificationStatus.SENDING).exists(),
        timeout=60,
        message="a batch in progress",
    )
    os.kill(random.choice(pipeline.children("email")), signal.SIGKILL)
    killed_at = time.monotonic()

    # The relay looks every 5 s for what has not moved for the stall window.
    _all_sent(ids, timeout=stall_seconds + 60)
    took = time.monotonic() - killed_at

    tally = _tally(
        "one pool child killed, then quiet", ids, smtp_server, faults=1, note=f"all sent {took:.0f}s after"
    )
    assert tally.lost == 0
    assert tally.duplicated <= 1
    assert took <= stall_seconds + 30


def test_chaos_broker_stopped_while_requests_keep_coming(
    pipeline, service_client, smtp_server, email_template
):
    outage = 10 if FULL else 3
    user = UserFactory()
    ids: list[str] = []
    slowest = 0.0
    started = time.monotonic()
    stopped = restarted = False
    try:
        while time.monotonic() - started < outage + 3:
            elapsed = time.monotonic() - started
            if not stopped and elapsed > 1:
                subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=120)
                stopped = True
            if stopped and not restarted and elapsed > 1 + outage:
                subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=120)
                restarted = True
            notification_id, took = _post(service_client, _body(user.id, f"outage-{uuid.uuid4()}"))
            ids.append(notification_id)
            slowest = max(slowest, took)
            time.sleep(0.02)
    finally:
        if not restarted:
            subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=120)
    _all_sent(ids, timeout=300)

    tally = _tally(
        f"RabbitMQ stopped {outage}s", ids, smtp_server, faults=1, note=f"slowest request {slowest:.2f}s"
    )
    assert tally.lost == 0
    assert tally.duplicated == 0
    assert slowest < 5


def test_chaos_smtp_server_down(pipeline, service_client, smtp_server, email_template):
    outage = 30 if FULL else 6
    count = 300 if FULL else 40
    user = UserFactory()
    smtp_server.stop()
    ids = [_post(service_client, _body(user.id, f"smtp-{i}"))[0] for i in range(count)]
    wait_for(
        lambda: Notification.objects.filter(id__in=ids, error__contains="circuit breaker").exists(),
        timeout=60,
        message="the breaker to open",
    )
    time.sleep(outage)
    smtp_server.start()
    _all_sent(ids, timeout=300)

    tally = _tally(f"SMTP server down {outage}s", ids, smtp_server, faults=1, note="breaker opened")
    assert tally.lost == 0
    assert tally.duplicated == 0
    assert not Notification.objects.filter(id__in=ids, status=NotificationStatus.FAILED).exists()


def _redis_restart() -> None:
    subprocess.run(["redis-cli", "shutdown", "nosave"], check=False, timeout=30)
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
         "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"],
        check=True, timeout=30,
    )  # fmt: skip
    wait_for(
        lambda: subprocess.run(["redis-cli", "ping"], capture_output=True, text=True).stdout.strip() == "PONG"
    )


def test_chaos_redis_flushed_during_a_storm_of_duplicates(
    pipeline, service_client, smtp_server, email_template
):
    from django_redis import get_redis_connection

    distinct = 300 if FULL else 40
    repeats = 4
    user = UserFactory()
    request_ids = [f"storm-{i}" for i in range(distinct)] * repeats
    random.shuffle(request_ids)
    accepted: dict[str, set[str]] = {}
    lock = threading.Lock()

    def post(chunk: list[str]) -> None:
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(**service_client._credentials)
        for request_id in chunk:
            notification_id, _ = _post(client, _body(user.id, request_id))
            with lock:
                accepted.setdefault(request_id, set()).add(notification_id)
        connection.close()

    chunks = [request_ids[i::4] for i in range(4)]
    threads = [threading.Thread(target=post, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    if FULL:
        _redis_restart()
    else:
        get_redis_connection("default").flushdb()
    for thread in threads:
        thread.join()

    assert all(len(ids) == 1 for ids in accepted.values())
    ids = [next(iter(ids)) for ids in accepted.values()]
    assert Notification.objects.filter(request_id__startswith="storm-").count() == distinct
    _all_sent(ids, timeout=300)
    tally = _tally("Redis flushed" + (" and restarted" if FULL else ""), ids, smtp_server, faults=1,
                   note=f"{len(request_ids)} requests for {distinct} request_ids")  # fmt: skip
    assert tally.lost == 0
    assert tally.duplicated == 0


def test_chaos_postgres_connections_killed(pipeline, service_client, smtp_server, email_template):
    count = 600 if FULL else 60
    user = UserFactory()
    database = connection.settings_dict["NAME"]
    stop = threading.Event()
    kills = 0

    def killer() -> None:
        nonlocal kills
        with psycopg.connect(host="127.0.0.1", dbname="postgres", autocommit=True) as admin:
            while not stop.is_set():
                time.sleep(0.7)
                cursor = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [database],
                )
                kills += 1 if cursor.fetchone()[0] else 0

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        ids = [_post(service_client, _body(user.id, f"pg-{i}"))[0] for i in range(count)]
        time.sleep(3)
    finally:
        stop.set()
        thread.join()
    connection.close()  # the test's own connection was among those killed
    _all_sent(ids, timeout=300)

    tally = _tally("PostgreSQL connections killed", ids, smtp_server, faults=kills)
    assert tally.lost == 0
    assert tally.duplicated <= kills


def test_chaos_fan_out_killed_while_expanding(pipeline, service_client, smtp_server, email_template):
    """kill -9 of the relay, which expands broadcasts, several times during a topic's fan-out: every
    subscriber's notification is created once and delivered once."""
    count = 20_000 if FULL else 3_000
    users = users_bulk(count, prefix=f"fan-{uuid.uuid4().hex[:8]}")
    topic = Topic.objects.create(key=f"fan-{uuid.uuid4().hex[:8]}", name="Fan-out under kills")
    TopicSubscription.objects.bulk_create(
        [TopicSubscription(topic=topic, user=u) for u in users], batch_size=5000
    )
    response = service_client.post(
        "/api/v1/notifications/",
        {
            "notification_type": "email",
            "topic": topic.key,
            "template_code": "welcome",
            "variables": {"name": "everyone", "code": "7"},
            "request_id": f"fan-{uuid.uuid4()}",
        },
        format="json",
    )
    assert response.status_code == 202, response.content
    broadcast_id = response.json()["data"]["broadcast_id"]

    def created() -> int:
        return Notification.objects.filter(broadcast_id=broadcast_id).count()

    kills = 0
    for wanted in (count // 4, count // 2):  # a quarter of the way, then half of the way
        wait_for(
            lambda wanted=wanted: created() >= wanted, timeout=120, interval=0.02, message="fan-out progress"
        )
        if Broadcast.objects.get(pk=broadcast_id).status == BroadcastStatus.COMPLETE:
            break
        pipeline.stop("relay", sig=signal.SIGKILL)
        kills += 1
        pipeline.start("relay")
    wait_for(
        lambda: Broadcast.objects.get(pk=broadcast_id).status == BroadcastStatus.COMPLETE,
        timeout=300,
        message="the fan-out to complete",
    )
    notifications = list(Notification.objects.filter(broadcast_id=broadcast_id).values_list("id", "user_id"))
    ids = [str(notification_id) for notification_id, _ in notifications]
    _all_sent(ids, timeout=900 if FULL else 240)

    tally = _tally("kill -9 of the relay during a fan-out", ids, smtp_server, faults=kills)
    assert len(notifications) == count
    assert {user_id for _, user_id in notifications} == {u.id for u in users}
    assert Broadcast.objects.get(pk=broadcast_id).notifications_created == count
    assert tally.lost == 0
    assert tally.duplicated == 0
    assert kills >= 1


def _accepted_together(users: list, poison_user, email_template) -> tuple[list[str], str]:
    """Notifications written in one transaction with their outbox entries, so the relay publishes them as
    one batch message: the poison somewhere in the middle of it."""
    from django.db import transaction

    from notifications.models import OutboxEntry

    ordered = [*users[: len(users) // 2], poison_user, *users[len(users) // 2 :]]
    with transaction.atomic():
        rows = [
            Notification.objects.create(
                caller="key:chaos", request_id=f"batch-{uuid.uuid4()}", request_hash="h", user=user,
                notification_type="email", template_code="welcome", variables={"name": "Ada", "code": "7"},
                correlation_id="chaos-poison-batch",
            )
            for user in ordered
        ]  # fmt: skip
        OutboxEntry.objects.bulk_create([OutboxEntry(notification=row) for row in rows])
    poison_id = str(rows[len(users) // 2].id)
    return [str(row.id) for row in rows if str(row.id) != poison_id], poison_id


def test_chaos_poison_message(pipeline, service_client, smtp_server, email_template):
    """A notification whose delivery kills its worker every time, inside a batch of 100: its batch is
    split until it is alone, it reaches the DLQ after BROKER_DELIVERY_LIMIT deaths, the rest are sent."""
    import math

    from django.conf import settings

    others = [UserFactory() for _ in range(99 if FULL else 15)]
    poison_user = UserFactory(email="poison@example.com")
    smtp_server.handler.rcpt_delay["poison@example.com"] = 3.0
    ids, poison_id = _accepted_together(others, poison_user, email_template)
    killed: set[int] = set()
    rcpts_seen = 0
    deadline = time.monotonic() + 300
    while queue_depth(Channel("email").dlq) == 0 and time.monotonic() < deadline:
        # The worker dies while it is sending the poison (the SMTP server has its RCPT), as a poison would
        # kill it; not while it sends the batch's other emails.
        with smtp_server.handler.lock:
            rcpts = smtp_server.handler.rcpt_count["poison@example.com"]
        poison = Notification.objects.get(pk=poison_id)
        if rcpts > rcpts_seen and poison.status == NotificationStatus.SENDING and poison.claimed_by:
            rcpts_seen = rcpts
            pid = int(poison.claimed_by.rsplit(":", 1)[1])
            if pid not in killed:
                killed.add(pid)
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    _all_sent(ids, timeout=240)

    poison = Notification.objects.get(pk=poison_id)
    [letter] = [letter for letter in dlq_list(channel="email") if letter.notification_id == poison_id]
    tally = _tally(
        f"poison inside a batch of {len(ids) + 1}", ids, smtp_server, faults=len(killed),
        note=f"the poison failed into email.dlq after {len(killed)} worker deaths",
    )  # fmt: skip
    assert poison.status == NotificationStatus.FAILED
    assert poison.error.startswith("poison: delivered")
    assert letter.status == NotificationStatus.FAILED
    # The batch is halved at each death until the poison is alone; then BROKER_DELIVERY_LIMIT deaths.
    splits = math.ceil(math.log2(len(ids) + 1))
    assert settings.BROKER_DELIVERY_LIMIT <= len(killed) <= settings.BROKER_DELIVERY_LIMIT + splits
    assert tally.lost == 0
    assert tally.duplicated == 0
    assert smtp_server.handler.messages_for(poison_id) == []
