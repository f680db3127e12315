"""PgBouncer in front of PostgreSQL (Debian's pgbouncer, started by the test on a port of its own): the
workers' claim holds a session advisory lock per notification while the provider is called, so it needs
session pooling; transaction pooling would hand the locked server session to another worker, which then
claims the same notifications. The API and the relay take only transaction-scoped locks and work in
either mode (README "PostgreSQL at scale")."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from notifications.models import Notification, NotificationStatus
from notifications.tests.conftest import ROOT, SESSION_POOLS, Workers, worker_env
from notifications.tests.factories import NotificationFactory
from notifications.tests.test_chaos import _all_sent, _body, _post
from standins.boundary import free_port, wait_for
from users.tests.factories import UserFactory

PGBOUNCER = Path("/usr/sbin/pgbouncer")

CLAIM = """
import json, sys
import django
django.setup()
from notifications.delivery.claim import batch_claim
claim = batch_claim(notification_ids=sys.argv[1].split(","), channel="email")
held = {"claimed": sorted(str(n.id) for n in claim.claimed), "busy": sorted(claim.busy)}
print(json.dumps(held), flush=True)
sys.stdin.readline()  # the claim is held until the test says so, or kills the process
"""


class PgBouncer:
    """One PgBouncer process in front of the local PostgreSQL, in the given pooling mode."""

    def __init__(self, folder: Path, *, mode: str, pool_size: int) -> None:
        self.folder = folder
        self.port = free_port()
        folder.chmod(0o755)
        (folder / "userlist.txt").write_text('"root" ""\n"postgres" ""\n')
        db = connection.settings_dict
        (folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {folder / 'userlist.txt'}\nadmin_users = root\n"
            f"pool_mode = {mode}\ndefault_pool_size = {pool_size}\nmax_client_conn = 200\n"
            # Django's psycopg sends no other startup parameters; a session ends with DISCARD ALL,
            # which also releases the session's advisory locks.
            "ignore_startup_parameters = extra_float_digits,options\nserver_reset_query = DISCARD ALL\n"
            f"logfile = {folder / 'pgbouncer.log'}\npidfile = {folder / 'pgbouncer.pid'}\n"
        )
        for path in folder.iterdir():
            path.chmod(0o644)
        assert PGBOUNCER.exists(), "Debian's pgbouncer is installed by `make test-tools` (make test does)"
        # PgBouncer refuses to run as root: started by root, it drops to the postgres user.
        user: list[str] = []
        if os.geteuid() == 0:
            user = ["-u", "postgres"]
            os.chown(folder, *_postgres_ids())
        subprocess.run([str(PGBOUNCER), "-d", *user, str(folder / "pgbouncer.ini")], check=True, timeout=30)
        wait_for(self._answers, timeout=10, message="PgBouncer listening")

    def _answers(self) -> bool:
        try:
            with psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://root@127.0.0.1:{self.port}/pgbouncer"

    def database_url(self) -> str:
        return f"postgres://root@127.0.0.1:{self.port}/{connection.settings_dict['NAME']}"

    def transactions(self) -> int:
        """Transactions PgBouncer has passed to the test database so far (SHOW STATS)."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            cursor = admin.cursor()
            cursor.execute("SHOW STATS")
            names = [column.name for column in cursor.description or []]
            for row in cursor.fetchall():
                stats = dict(zip(names, row, strict=True))
                if stats["database"] == connection.settings_dict["NAME"]:
                    return int(stats["total_xact_count"])
        return 0

    def stop(self) -> None:
        pid = int((self.folder / "pgbouncer.pid").read_text())
        os.kill(pid, signal.SIGTERM)


def _postgres_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


@pytest.fixture
def pgbouncer_factory() -> Iterator:
    started: list[PgBouncer] = []

    def start(mode: str, pool_size: int = 4) -> PgBouncer:
        # A folder of its own under /tmp: pytest's are private to root, and PgBouncer runs as postgres.
        folder = Path(tempfile.mkdtemp(prefix=f"notifier-pgbouncer-{mode}-"))
        bouncer = PgBouncer(folder, mode=mode, pool_size=pool_size)
        started.append(bouncer)
        return bouncer

    yield start
    for bouncer in started:
        bouncer.stop()
        shutil.rmtree(bouncer.folder, ignore_errors=True)


def _claimer(bouncer: PgBouncer, ids: list[str]) -> tuple[subprocess.Popen[str], dict[str, list[str]]]:
    """A worker's claim, in a process of its own connected through PgBouncer; held until released."""
    env = {
        **os.environ,
        "DATABASE_URL": bouncer.database_url(),
        "DJANGO_SETTINGS_MODULE": "notifier.settings",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", CLAIM, ",".join(ids)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def _queued(count: int) -> list[str]:
    user = UserFactory()
    return sorted(
        str(NotificationFactory(user=user, status=NotificationStatus.QUEUED).id) for _ in range(count)
    )


def _release(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.communicate("\n", timeout=30)


def test_in_session_pooling_a_claim_is_held_and_a_dead_workers_claim_frees_at_once(
    transactional_db, pgbouncer_factory
):
    bouncer = pgbouncer_factory("session")
    ids = _queued(5)

    first, first_claim = _claimer(bouncer, ids)
    second, second_claim = _claimer(bouncer, ids)
    _release(second)
    assert first_claim == {"claimed": ids, "busy": []}
    assert second_claim == {"claimed": [], "busy": ids}

    # The first worker dies holding its claim: its client connection closes, PgBouncer resets the server
    # session (DISCARD ALL releases its advisory locks), and the next worker claims at once.
    first.kill()
    first.wait(timeout=30)
    third, third_claim = _claimer(bouncer, ids)
    _release(third)
    assert third_claim == {"claimed": ids, "busy": []}
    assert bouncer.transactions() > 0


def test_in_transaction_pooling_two_workers_would_claim_the_same_notifications(
    transactional_db, pgbouncer_factory
):
    """Why the workers need session pooling: with one server connection, the second worker's claim runs
    on the session that holds the first worker's locks, and an advisory lock is re-entrant there."""
    bouncer = pgbouncer_factory("transaction", pool_size=1)
    ids = _queued(3)

    first, first_claim = _claimer(bouncer, ids)
    second, second_claim = _claimer(bouncer, ids)
    _release(first)
    _release(second)

    assert first_claim["claimed"] == ids
    assert second_claim["claimed"] == ids  # claimed twice: the lock protects nothing in this mode


@pytest.mark.workers
def test_the_relay_and_a_worker_deliver_through_pgbouncer_in_session_pooling(
    transactional_db,
    pgbouncer_factory,
    smtp_server,
    fcm_server,
    vapid_keys,
    broker,
    service_client,
    email_template,
    tmp_path,
):
    for pool in SESSION_POOLS:
        for channel in list(pool.processes):
            pool.stop(channel)
    bouncer = pgbouncer_factory("session", pool_size=8)
    smtp_server.handler.reset()
    env = {**worker_env(smtp_server, fcm_server, vapid_keys), "DATABASE_URL": bouncer.database_url()}
    system = Workers(env, tmp_path)
    try:
        system.start("relay")
        system.start("email")
        before = bouncer.transactions()
        user = UserFactory()
        ids = [_post(service_client, _body(user.id, f"pgbouncer-{uuid.uuid4()}"))[0] for _ in range(60)]
        _all_sent(ids, timeout=120)
    finally:
        for channel in list(system.processes):
            system.stop(channel)

    received = smtp_server.handler.counts()
    assert [received[i] for i in ids] == [1] * len(ids)
    assert not Notification.objects.filter(id__in=ids).exclude(status=NotificationStatus.SENT).exists()
    # The relay's and the worker's statements went through PgBouncer.
    assert bouncer.transactions() - before >= len(ids)
