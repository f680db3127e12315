"""`make run` as a new user meets it: no PORT or HOST set, the API on 127.0.0.1:8000, and the printed curl
line sends a notification. Runs the real target (API, workers, relay) against the real services."""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 180

pytestmark = pytest.mark.workers


def _loopback_only_answers(port: int) -> bool:
    """Nothing answers on the machine's other addresses (HOST defaults to 127.0.0.1)."""
    try:
        addresses = subprocess.run(
            ["hostname", "-I"], capture_output=True, text=True, timeout=5
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        addresses = []
    for address in [a for a in addresses if ":" not in a and not a.startswith("127.")]:
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex((address, port)) == 0:
                return False
    return True


def _health(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a loopback URL
            return response.status
    except OSError:
        return None


@pytest.fixture
def make_run(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST", "MAKEFLAGS", "MFLAGS")}
    # Its own database, Redis database and vhost, so a developer's running system is not touched.
    environment["DATABASE_URL"] = "postgres://127.0.0.1:5432/notifier_make_run_test"
    environment["REDIS_URL"] = "redis://127.0.0.1:6379/14"
    log = (tmp_path / "make-run.log").open("w+")
    process = subprocess.Popen(
        ["make", "run"],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_make_run_serves_on_8000_on_loopback_and_its_curl_line_sends(make_run):
    process, log = make_run
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while _health("http://127.0.0.1:8000/health") != 200:
        assert process.poll() is None, Path(log.name).read_text()[-3000:]
        assert time.monotonic() < deadline, Path(log.name).read_text()[-3000:]
        time.sleep(0.5)
    output = Path(log.name).read_text()
    curl = next(line for line in output.splitlines() if line.startswith("curl "))

    sent = [
        subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30) for _ in range(2)
    ]

    assert "http://localhost:8000/admin/" in output
    assert _loopback_only_answers(8000)
    for result in sent:
        assert re.search(r'"success":\s*true', result.stdout), result.stdout + result.stderr
        assert re.search(r'"status":\s*"(pending|queued|sending|sent)"', result.stdout), result.stdout
    ids = [re.search(r'"notification_id":\s*"([0-9a-f-]{36})"', result.stdout).group(1) for result in sent]
    assert ids[0] != ids[1]
    # The second printed line sends to the demo topic: a broadcast to its one subscriber.
    topic_curl = [line for line in output.splitlines() if line.startswith("curl ")][1]
    broadcast = subprocess.run(["bash", "-c", topic_curl], capture_output=True, text=True, timeout=30).stdout
    assert re.search(r'"broadcast_id":\s*"[0-9a-f-]{36}"', broadcast), broadcast
    assert re.search(r'"recipients":\s*1\b', broadcast), broadcast
