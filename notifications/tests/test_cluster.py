"""The cluster test: a 3-node RabbitMQ cluster on this machine (scripts/rabbitmq_cluster.py, beside the
machine's own broker), the outbox relay and an email pool started against it with the three URLs, and
one node killed with `kill -9` while sends keep coming, then brought back: the leader of email.queue,
the node the email workers use, the node the relay uses, and a follower that serves neither. Each
scenario reports accepted / delivered / lost / duplicated and the longest gap between two deliveries.

`make cluster-test` runs it at full size (CLUSTER_SCALE=full); `make test` runs the short version.
Goal: nothing lost, nothing sent twice, no gap over 5 s; a worker started while a node is down consumes
within 5 s of one started with every node up.
"""

import itertools
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass

import pytest

from notifications.tests.conftest import ROOT, SESSION_POOLS, Workers, worker_env
from notifications.tests.test_chaos import _all_sent, _body, _post
from notifier.celery import topology_declare
from notifier.workers import worker_argv
from scripts.rabbitmq_cluster import Node, RabbitCluster
from standins.boundary import wait_for
from users.tests.factories import UserFactory

FULL = os.environ.get("CLUSTER_SCALE", "short") == "full"
pytestmark = [pytest.mark.workers, pytest.mark.cluster, pytest.mark.timeout(1200 if FULL else 420)]

MAX_GAP_SECONDS = 5.0
# Sending goes on this long in each scenario; the node is killed KILL_AT seconds in, and started again
# DOWN_FOR seconds later.
SEND_SECONDS = 45 if FULL else 20
KILL_AT = 5
DOWN_FOR = 20 if FULL else 8
SEND_INTERVAL = 0.01 if FULL else 0.03


@dataclass(frozen=True)
class ClusterTally:
    scenario: str
    accepted: int
    delivered: int
    lost: int
    duplicated: int
    longest_gap: float
    late_start: float
    note: str


RESULTS: list[ClusterTally] = []
LATE_WORKERS: list[subprocess.Popen[bytes]] = []


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="module")
def cluster() -> RabbitCluster:
    """The cluster, torn down at the end, on Ctrl-C, and on SIGTERM (made a KeyboardInterrupt meanwhile,
    so that pytest tears the fixtures down: the system's processes first, then the nodes)."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    rabbit = RabbitCluster()
    try:
        rabbit.up()
        yield rabbit
    finally:
        rabbit.down()
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="module")
def cluster_system(
    cluster, smtp_server, fcm_server, vapid_keys, django_db_setup, django_db_blocker, tmp_path_factory
):
    """The relay and an email pool on the cluster, alone on the test database (the session's pools, if
    running, are stopped: their relay would publish the same outbox to the other broker)."""
    for pool in SESSION_POOLS:
        for channel in list(pool.processes):
            pool.stop(channel)
    topology_declare(broker_url=cluster.url, delivery_limit=5)
    with django_db_blocker.unblock():
        env = {**worker_env(smtp_server, fcm_server, vapid_keys), "CELERY_BROKER_URL": cluster.url}
    system = Workers(env, tmp_path_factory.mktemp("cluster"))
    try:
        system.start("relay")
        system.start("email")
        yield system
    finally:
        for channel in list(system.processes):
            system.stop(channel)
        # A late worker a scenario's thread had started when the run was interrupted.
        for process in LATE_WORKERS:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def _clients(cluster: RabbitCluster, system: Workers) -> dict[str, set[str]]:
    """Which node each process of the system is connected to."""
    pids = {"relay": system.processes["relay"].pid, "email worker": system.processes["email"].pid}
    used: dict[int, set[str]] = {}

    def connected() -> bool:
        used.update(cluster.nodes_used_by(list(pids.values())))
        return all(used[pid] for pid in pids.values())

    # After a node came back, a process may still be reconnecting.
    wait_for(connected, timeout=30, interval=0.2, message="the relay and the worker connected")
    return {name: used[pid] for name, pid in pids.items()}


def _short(name: str) -> str:
    return name.split("@")[0].removeprefix("notifier-")


def _worker_start_seconds(cluster: RabbitCluster, env: dict[str, str], first: Node, log_dir) -> float:
    """Seconds from starting a second email pool, with `first` listed first and no shuffle, until it
    consumes (Celery logs `<hostname> ready.` once its consumer is registered); the pool is stopped again."""
    urls = [first.url, *(node.url for node in cluster.nodes if node != first)]
    name = f"late-{uuid.uuid4().hex[:8]}"
    log_path = log_dir / f"{name}.log"
    started = time.monotonic()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            worker_argv("email", urgent=False, concurrency=1, hostname=f"{name}@%h"),
            cwd=ROOT,
            env={**env, "CELERY_BROKER_URL": ";".join(urls), "BROKER_SHUFFLE": "false"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    LATE_WORKERS.append(process)
    try:
        wait_for(
            lambda: " ready." in log_path.read_text(errors="replace"),
            timeout=60,
            interval=0.05,
            message="the late worker consuming",
        )
        return time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=60)


def _longest_gap(ids: list[str], smtp_server) -> float:
    times = sorted(smtp_server.handler.received_at[i] for i in ids if i in smtp_server.handler.received_at)
    return max((later - earlier for earlier, later in itertools.pairwise(times)), default=0.0)


def _scenario(name: str, pick, cluster, system, service_client, smtp_server, tmp_path) -> ClusterTally:
    wait_for(lambda: len(cluster.running()) == len(cluster.nodes), timeout=60, message="every node up")
    leaders = cluster.leaders()
    clients = _clients(cluster, system)
    victim: Node = pick(leaders, clients)
    user = UserFactory()
    ids: list[str] = []
    late_start: list[float] = []
    events: dict[str, float] = {}

    def fault() -> None:
        time.sleep(KILL_AT)
        cluster.node_kill(victim)
        events["killed"] = time.monotonic()
        late_start.append(_worker_start_seconds(cluster, system.env, victim, tmp_path))
        time.sleep(max(0.0, events["killed"] + DOWN_FOR - time.monotonic()))
        cluster.node_start(victim)
        cluster.node_wait(victim)
        events["back"] = time.monotonic()

    thread = threading.Thread(target=fault, daemon=True)
    started = time.monotonic()
    thread.start()
    slowest = 0.0
    while time.monotonic() - started < SEND_SECONDS or thread.is_alive():
        notification_id, took = _post(service_client, _body(user.id, f"cluster-{uuid.uuid4()}"))
        ids.append(notification_id)
        slowest = max(slowest, took)
        time.sleep(SEND_INTERVAL)
    thread.join()
    _all_sent(ids, timeout=300)

    received = smtp_server.handler.counts()
    counts = [received[i] for i in ids]
    used = ", ".join(f"{who} {'/'.join(sorted(map(_short, nodes))) or '-'}" for who, nodes in clients.items())
    tally = ClusterTally(
        scenario=f"{name} ({_short(victim.name)})",
        accepted=len(ids),
        delivered=sum(1 for c in counts if c >= 1),
        lost=sum(1 for c in counts if c == 0),
        duplicated=sum(c - 1 for c in counts if c > 1),
        longest_gap=_longest_gap(ids, smtp_server),
        late_start=late_start[0],
        note=f"email.queue led by {_short(leaders['email.queue'])}; {used}; slowest request {slowest:.2f}s",
    )
    RESULTS.append(tally)
    print(f"\nCLUSTER {tally}")
    return tally


@pytest.fixture(scope="module")
def baseline_start(cluster, cluster_system, tmp_path_factory) -> float:
    """How long a worker takes to consume with every node up (the same measure as in the scenarios)."""
    seconds = _worker_start_seconds(
        cluster, cluster_system.env, cluster.nodes[0], tmp_path_factory.mktemp("late")
    )
    RESULTS.append(ClusterTally("a worker started, every node up", 0, 0, 0, 0, 0.0, seconds, ""))
    return seconds


def _the_leader(cluster, leaders, clients) -> Node:
    return cluster.node_of(leaders["email.queue"])


def _the_workers_node(cluster, leaders, clients) -> Node:
    # The node of the worker's own connection (its consumer), whichever node leads email.queue.
    return cluster.node_of(sorted(clients["email worker"])[0])


def _the_relays_node(cluster, leaders, clients) -> Node:
    return cluster.node_of(sorted(clients["relay"])[0])


def _a_follower(cluster, leaders, clients) -> Node:
    # A node that leads no email queue and serves none of the system's processes, when there is one.
    used = set().union(*clients.values())
    followers = [node for node in cluster.nodes if node.name != leaders["email.queue"]]
    quiet = [node for node in followers if node.name not in used]
    return (quiet or followers)[0]


def test_cluster_queue_leaders_are_spread_across_the_nodes(cluster, cluster_system):
    # Declared through one node, placed by the balanced leader locator on every node.
    leaders = cluster.leaders()
    assert {name for queue, name in leaders.items() if queue.endswith((".queue", ".dlq"))} == {
        node.name for node in cluster.nodes
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "pick"),
    [
        ("leader of email.queue killed", _the_leader),
        ("node the email workers use killed", _the_workers_node),
        ("node the relay uses killed", _the_relays_node),
        ("a follower killed", _a_follower),
    ],
)
def test_cluster_node_killed_then_back(
    name, pick, cluster, cluster_system, baseline_start, service_client, smtp_server, email_template, tmp_path
):
    tally = _scenario(
        name,
        lambda leaders, clients: pick(cluster, leaders, clients),
        cluster, cluster_system, service_client, smtp_server, tmp_path,
    )  # fmt: skip
    assert tally.lost == 0
    assert tally.duplicated == 0
    assert tally.longest_gap <= MAX_GAP_SECONDS
    assert tally.late_start <= baseline_start + MAX_GAP_SECONDS


def test_cluster_every_node_is_back(cluster, cluster_system):
    wait_for(lambda: len(cluster.running()) == len(cluster.nodes), timeout=60, message="every node up")
    status = json.loads(cluster.ctl(cluster.nodes[0], "cluster_status", "--formatter", "json"))
    assert sorted(status["running_nodes"]) == sorted(node.name for node in cluster.nodes)
