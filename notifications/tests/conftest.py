"""Real parts for the pipeline's tests: RabbitMQ (a vhost of the suite's own), Celery worker processes,
an SMTP server and an FCM stand-in at the network boundary."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu
import pytest
from django.conf import settings
from django.db import connection

from notifications.broker.connection import broker_connect
from notifications.channels import CHANNELS, HOUSEKEEPING_QUEUE, WEBHOOK_QUEUE, Channel
from notifier.celery import delayed_topology_remove, topology_declare
from notifier.workers import worker_argv, worker_queues
from standins.boundary import FcmServer, SmtpServer, wait_for
from standins.web_push_service import WebPushService

ROOT = Path(__file__).resolve().parents[2]
WORKER_SETTINGS = {
    "DELIVERY_MAX_RETRIES": "3",
    "DELIVERY_RETRY_BASE_SECONDS": "1",
    "DELIVERY_RETRY_MAX_SECONDS": "2",
    "BREAKER_FAIL_MAX": "3",
    "BREAKER_RESET_SECONDS": "3",
    "WORKER_PREFETCH_MULTIPLIER": "1",
    "SMTP_TIMEOUT_SECONDS": "5",
    "FCM_TIMEOUT_SECONDS": "5",
    "LOG_LEVEL": "INFO",
    # Shorter than the default 60 s, so the scenarios that rely on the relay's sweep finish sooner.
    "DELIVERY_STALL_SECONDS": "10",
    # Small fan-out chunks, so that a relay killed during a broadcast's fan-out dies between chunks.
    "BROADCAST_CHUNK_SIZE": "100",
}
# The worker pools and the outbox relay, as `make run` starts them (push's urgent pool aside: nothing in
# the suite needs it, and each pool is two more processes on a small machine).
PROCESSES = (*CHANNELS, "email-urgent", "relay")
WORK_QUEUES = [
    *(queue for channel in CHANNELS for queue in channel.queues),
    WEBHOOK_QUEUE,
    HOUSEKEEPING_QUEUE,
]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fcm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FcmServer]:
    server = FcmServer()
    server.start()
    server.credentials_path = server.write_service_account(  # type: ignore[attr-defined]
        tmp_path_factory.mktemp("firebase") / "serviceAccountKey.json"
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def vapid_keys() -> tuple[str, str]:
    """The suite's VAPID key pair (private, public; pyproject's test environment), as `make run` writes
    one into .env."""
    return settings.WEB_PUSH_VAPID_PRIVATE_KEY, settings.WEB_PUSH_VAPID_PUBLIC_KEY


@pytest.fixture(scope="session")
def web_push_service(vapid_keys: tuple[str, str]) -> Iterator[WebPushService]:
    service = WebPushService(application_server_key=vapid_keys[1])
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def broker() -> list[str]:
    """The topology on the suite's own vhost, declared afresh so that changed queue arguments apply, and
    what an older version declared removed, as `setup_broker` does."""
    with kombu.Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
        channel = conn.channel()
        for name in [*WORK_QUEUES, *(Channel(c).dlq for c in CHANNELS)]:
            channel.queue_delete(name)
    delayed_topology_remove(broker_url=settings.CELERY_BROKER_URL)
    return topology_declare(
        broker_url=settings.CELERY_BROKER_URL, delivery_limit=settings.BROKER_DELIVERY_LIMIT
    )


def smtp_provider_settings(server: SmtpServer, **extra: Any) -> Any:
    """The SMTP provider, alone, against a stand-in server (plain SMTP, short timeouts)."""
    from django.test import override_settings

    return override_settings(
        EMAIL_PROVIDERS=["notifications.providers.smtp.SmtpProvider"],
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=server.port,
        SMTP_USE_TLS=False,
        SMTP_TIMEOUT_SECONDS=5,
        **extra,
    )


def queue_depth(name: str) -> int:
    with kombu.Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
        return conn.channel().queue_declare(queue=name, passive=True).message_count


def consumer_count(name: str, broker_url: str | None = None) -> int:
    with kombu.Connection(broker_url or settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
        broker_connect(conn)
        return conn.channel().queue_declare(queue=name, passive=True).consumer_count


def purge_queues() -> None:
    names = [*WORK_QUEUES, *(Channel(c).dlq for c in CHANNELS)]
    with kombu.Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
        channel = conn.channel()
        for name in names:
            channel.queue_purge(name)


class Workers:
    """One email and one push worker process and the outbox relay, started as `make run` starts them."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.broker_url = env.get("CELERY_BROKER_URL") or settings.CELERY_BROKER_URL
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.hostnames: dict[str, str] = {}

    def start(self, channel: str) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{channel}-worker.log", "ab")  # noqa: SIM115 - closed with the process
        if channel == "relay":
            process = subprocess.Popen(
                [sys.executable, "manage.py", "outbox_relay"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            self.processes[channel] = process
            return process
        base, _, lane = channel.partition("-")
        urgent = lane == "urgent"
        self.hostnames[channel] = f"{channel}-test-{time.time_ns()}"
        process = subprocess.Popen(
            worker_argv(
                base,
                urgent=urgent,
                concurrency=1 if urgent else 2,
                hostname=f"{self.hostnames[channel]}@%h",
            ),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[channel] = process
        first_queue = worker_queues(base, urgent=urgent)[0]
        wait_for(
            lambda: consumer_count(first_queue, self.broker_url) >= 1, timeout=60, message=f"{channel} worker"
        )
        return process

    def stop(self, channel: str, *, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(channel, None)
        if process is None:
            return
        # SIGTERM goes to the main process, as a supervisor sends it; SIGKILL takes the whole group.
        if sig == signal.SIGKILL:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def children(self, channel: str) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.processes[channel].pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(pid) for pid in out.split()]

    def ensure_running(self) -> None:
        for channel in PROCESSES:
            process = self.processes.get(channel)
            if process is None or process.poll() is not None:
                self.start(channel)

    def hostname(self, channel: str) -> str:
        """The running pool's Celery hostname, without the machine's name."""
        return self.hostnames[channel]

    def log(self, channel: str) -> str:
        return (self.log_dir / f"{channel}-worker.log").read_text(errors="replace")


def worker_env(smtp_server: SmtpServer, fcm_server: FcmServer, vapid_keys: tuple[str, str]) -> dict[str, str]:
    """The environment of the suite's worker processes and relay: the test database and the stand-ins."""
    db = connection.settings_dict
    env = {
        **os.environ,
        **WORKER_SETTINGS,
        "DATABASE_URL": (
            f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_server.port),
        "FIREBASE_CREDENTIALS": str(fcm_server.credentials_path),  # type: ignore[attr-defined]
        "FCM_ENDPOINT": fcm_server.endpoint,
        "PUSH_PROVIDERS": "auto,webpush",
        "WEB_PUSH_VAPID_PRIVATE_KEY": vapid_keys[0],
        "WEB_PUSH_VAPID_PUBLIC_KEY": vapid_keys[1],
    }
    env.pop("EMAIL_BACKEND", None)
    return env


# The session's pools, once started: a test that runs a system of its own on the same database (the
# cluster test) stops them first, so that one relay publishes the outbox; `pipeline` starts them again.
SESSION_POOLS: list[Workers] = []


@pytest.fixture(scope="session")
def workers(
    django_db_setup: Any,
    django_db_blocker: Any,
    smtp_server: SmtpServer,
    fcm_server: FcmServer,
    broker: list[str],
    vapid_keys: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workers]:
    pool = Workers(worker_env(smtp_server, fcm_server, vapid_keys), tmp_path_factory.mktemp("workers"))
    for name in PROCESSES:
        pool.start(name)
    SESSION_POOLS.append(pool)
    yield pool
    for channel in list(pool.processes):
        pool.stop(channel)


@pytest.fixture
def pipeline(
    workers: Workers, smtp_server: SmtpServer, fcm_server: FcmServer, transactional_db: Any
) -> Iterator[Any]:
    """A clean pipeline for one test: empty queues, a quiet SMTP server and FCM, running workers."""
    smtp_server.handler.reset()
    fcm_server.state.reset()
    if smtp_server.controller is None:
        smtp_server.start()
    workers.ensure_running()
    purge_queues()
    yield workers
    if smtp_server.controller is None:
        smtp_server.start()


@pytest.fixture
def webhook_pool(pipeline: Workers) -> Workers:
    """The webhook worker pool beside the others (started by the first test that needs it)."""
    process = pipeline.processes.get("webhook")
    if process is None or process.poll() is not None:
        pipeline.start("webhook")
    return pipeline


@pytest.fixture
def email_template(db: Any) -> Any:
    from templates_app.tests.factories import TemplateFactory, TemplateVersionFactory

    template = TemplateFactory(code="welcome", notification_type="email", language="en")
    version = TemplateVersionFactory(
        template=template,
        version=1,
        subject="Welcome {{name}}",
        body="Hi {{name}}, your code is {{code}}.",
        html_body="<p>Hi {{name}}, your code is <b>{{code}}</b>.</p>",
        variables={"required": ["code", "name"], "optional": []},
    )
    template.active_version = version
    template.save()
    return template


@pytest.fixture
def push_template(db: Any) -> Any:
    from templates_app.tests.factories import TemplateFactory, TemplateVersionFactory

    template = TemplateFactory(code="alert", notification_type="push", language="en")
    version = TemplateVersionFactory(
        template=template,
        version=1,
        subject="Alert for {{name}}",
        body="{{message}}",
        html_body="",
        image_url="https://cdn.example.com/alert.png",
        link="https://app.example.com/alerts",
        variables={"required": ["message", "name"], "optional": []},
    )
    template.active_version = version
    template.save()
    return template


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from notifications.tests import test_chaos, test_cluster

    if test_cluster.RESULTS:
        terminalreporter.section("cluster: a RabbitMQ node killed, then back")
        terminalreporter.write_line(
            f"{'scenario':48} {'accepted':>8} {'delivered':>9} {'lost':>5} {'duplicated':>10} "
            f"{'longest gap':>11} {'late worker':>11}  note"
        )
        for c in test_cluster.RESULTS:
            counts = f"{c.accepted:>8} {c.delivered:>9} {c.lost:>5} {c.duplicated:>10}"
            times = f"{c.longest_gap:>10.1f}s {c.late_start:>10.1f}s"
            terminalreporter.write_line(f"{c.scenario:48} {counts} {times}  {c.note}")
    if not test_chaos.RESULTS:
        return
    terminalreporter.section("chaos: what became of every notification")
    terminalreporter.write_line(
        f"{'scenario':42} {'accepted':>8} {'delivered':>9} {'lost':>5} {'duplicated':>10} {'faults':>6}  note"
    )
    for t in test_chaos.RESULTS:
        counts = f"{t.accepted:>8} {t.delivered:>9} {t.lost:>5} {t.duplicated:>10} {t.faults:>6}"
        terminalreporter.write_line(f"{t.scenario:42} {counts}  {t.note}")


@pytest.fixture
def german_welcome(email_template: Any) -> Any:
    """The `welcome` email template in German too, with the same variables."""
    from templates_app.tests.factories import TemplateFactory, TemplateVersionFactory

    german = TemplateFactory(code="welcome", notification_type="email", language="de")
    german.active_version = TemplateVersionFactory(
        template=german, version=1, subject="Willkommen {{name}}", body="Code {{code}}",
        variables={"required": ["code", "name"], "optional": []},
    )  # fmt: skip
    german.save()
    return german
