#!/usr/bin/env python
"""A 3-node RabbitMQ cluster on this machine, beside its own broker, for `make cluster-test`.

Each node has a name (`notifier-ct<N>@localhost`), AMQP and distribution ports (5781-5783, 25781-25783),
data, log and config directories of its own under one folder (var/rabbitmq-cluster), and an Erlang
cookie of its own in a home folder of its own: the machine's broker (`rabbit@localhost`, its cookie in
/var/lib/rabbitmq) can neither be reached by these nodes' tools nor join them, and nothing here reads or
writes its files. Only the nodes' own processes are ever killed (by the pid each node writes).

    python scripts/rabbitmq_cluster.py up      # start the three nodes and cluster them; print the URLs
    python scripts/rabbitmq_cluster.py status  # each node: running or not, and the cluster's members
    python scripts/rabbitmq_cluster.py down    # stop every node and delete the folder

`up` tears down whatever an earlier, interrupted run left in the folder first.
"""

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASE = ROOT / "var" / "rabbitmq-cluster"
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
AMQP_PORT_BASE = 5780
DIST_PORT_BASE = 25780
NODE_PREFIX = "notifier-ct"
START_TIMEOUT_SECONDS = 90


@dataclass(frozen=True)
class Node:
    index: int
    base: Path

    @property
    def name(self) -> str:
        return f"{NODE_PREFIX}{self.index}@localhost"

    @property
    def port(self) -> int:
        return AMQP_PORT_BASE + self.index

    @property
    def dist_port(self) -> int:
        return DIST_PORT_BASE + self.index

    @property
    def folder(self) -> Path:
        return self.base / f"node{self.index}"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def pid_file(self) -> Path:
        return self.folder / "pid"


class RabbitCluster:
    def __init__(self, base: Path = DEFAULT_BASE, size: int = 3) -> None:
        self.base = base
        self.nodes = [Node(index, base) for index in range(1, size + 1)]
        # Set by `down`: a node_start still pending in another thread (a test's fault thread, when the
        # run is interrupted) then starts nothing.
        self.closed = False

    # -- the nodes' environment, of their own -------------------------------------------------------------

    def _env(self, node: Node) -> dict[str, str]:
        return {
            "PATH": "/usr/sbin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(node.folder / "home"),  # the cluster's own .erlang.cookie
            "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(node.port),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(node.folder / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(node.folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(node.folder / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(node.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(node.folder / "log"),
            "RABBITMQ_PID_FILE": str(node.pid_file),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def _prepare(self, node: Node, cookie: str) -> None:
        for sub in ("home", "log", "mnesia"):
            (node.folder / sub).mkdir(parents=True, exist_ok=True)
        cookie_file = node.folder / "home" / ".erlang.cookie"
        if not cookie_file.exists():
            cookie_file.write_text(cookie)
            cookie_file.chmod(0o400)
        (node.folder / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq/rabbitmq-env.conf
        (node.folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{node.port}\n"
            "loopback_users = none\n"
            # A node that loses its peers keeps serving what it can (the default); the test kills one.
            "cluster_partition_handling = ignore\n"
        )
        (node.folder / "enabled_plugins").write_text("[].\n")

    def ctl(self, node: Node, *args: str, target: Node | None = None, timeout: float = 60) -> str:
        """rabbitmqctl against `target` (default: `node`), with `node`'s cookie."""
        result = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", (target or node).name, *args],
            env=self._env(node),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {node.name}: {result.stderr.strip()}")
        return result.stdout

    # -- lifecycle ------------------------------------------------------------------------------------------

    def pid(self, node: Node) -> int | None:
        """The node's running process, by the pid it wrote; None when it is not running."""
        try:
            pid = int(node.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if f"-home\0{node.folder / 'home'}\0".encode() in cmdline else None

    def node_start(self, node: Node) -> None:
        if self.closed or self.pid(node) is not None:
            return
        subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmq-server"), "-detached"],
            env=self._env(node),
            check=True,
            timeout=60,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def node_wait(self, node: Node) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                self.ctl(node, "await_startup", "--timeout", "10", timeout=20)
                return
            except (RuntimeError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def node_kill(self, node: Node) -> None:
        """kill -9 of the node's process, as a crash would."""
        pid = self.pid(node)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.pid(node) is not None and time.monotonic() < deadline:
                time.sleep(0.05)

    def up(self) -> None:
        self.down()
        _stale_nodes_kill()
        self.closed = False
        busy = [port for node in self.nodes for port in (node.port, node.dist_port) if _port_taken(port)]
        if busy:
            raise RuntimeError(f"ports already in use: {busy}")
        cookie = secrets.token_hex(20)
        for node in self.nodes:
            self._prepare(node, cookie)
            self.node_start(node)
        for node in self.nodes:
            self.node_wait(node)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app")
        for node in self.nodes:
            self.node_wait(node)

    def down(self) -> None:
        self.closed = True
        for node in self.nodes:
            self.node_kill(node)
        if self.base.exists():
            shutil.rmtree(self.base)

    # -- what the cluster says ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Every node's URL, separated by `;`, as CELERY_BROKER_URL takes them."""
        return ";".join(node.url for node in self.nodes)

    def running(self) -> list[Node]:
        return [node for node in self.nodes if self.pid(node) is not None]

    def leaders(self) -> dict[str, str]:
        """Queue name -> the node name of its leader (asked of a running node)."""
        asker = self.running()[0]
        out = self.ctl(asker, "list_queues", "name", "leader", "--no-table-headers")
        return dict(line.split("\t")[:2] for line in out.splitlines() if "\t" in line)

    def node_of(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def nodes_used_by(self, pids: list[int]) -> dict[int, set[str]]:
        """For each process, the names of the nodes its AMQP connections go to (from `ss`)."""
        out = subprocess.run(
            ["ss", "-tnpH", "state", "established"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
        by_port = {node.port: node.name for node in self.nodes}
        used: dict[int, set[str]] = {pid: set() for pid in pids}
        for line in out.splitlines():
            fields = line.split()
            if len(fields) < 5:
                continue
            port = int(fields[3].rsplit(":", 1)[-1])
            if port not in by_port:
                continue
            for pid in pids:
                if f"pid={pid}," in line:
                    used[pid].add(by_port[port])
        return used


def _stale_nodes_kill() -> None:
    """Kills the nodes a run from another folder left behind (another checkout's interrupted run): a
    RabbitMQ process whose home is a `rabbitmq-cluster/node<N>/home` folder. The machine's broker (its
    home is /var/lib/rabbitmq) never matches."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        homes = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == b"-home"]
        if any(re.search(rb"/rabbitmq-cluster/node\d+/home$", home) for home in homes):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--base", type=Path, default=DEFAULT_BASE)
    args = parser.parse_args()
    cluster = RabbitCluster(args.base)
    if args.action == "up":
        cluster.up()
        print(f"CELERY_BROKER_URL='{cluster.url}'")
    elif args.action == "down":
        cluster.down()
        print("cluster stopped and its folder deleted")
    else:
        for node in cluster.nodes:
            print(f"{node.name}: {'running' if cluster.pid(node) else 'down'} (AMQP {node.port})")
        if cluster.running():
            print(cluster.ctl(cluster.running()[0], "cluster_status"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
