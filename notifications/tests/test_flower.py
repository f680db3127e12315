"""Flower, the optional monitor: `manage.py run_flower` refuses to open it to the network without basic
auth, and the real Flower process sees the real worker pools and serves its Prometheus metrics."""

import base64
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from standins.boundary import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_flower_beyond_the_loopback_needs_basic_auth(monkeypatch, settings):
    started = []
    monkeypatch.setattr("os.execv", lambda path, argv: started.append(argv))
    settings.FLOWER_BASIC_AUTH = ""

    with pytest.raises(CommandError, match="FLOWER_BASIC_AUTH"):
        call_command("run_flower", "--address", "0.0.0.0")  # noqa: S104 - what is refused

    assert started == []


def test_flower_starts_on_the_loopback_and_with_auth_anywhere(monkeypatch, settings):
    started = []
    monkeypatch.setattr("os.execv", lambda path, argv: started.append(argv))
    settings.FLOWER_BASIC_AUTH = ""
    call_command("run_flower")
    settings.FLOWER_BASIC_AUTH = "ops:secret"
    call_command("run_flower", "--address", "0.0.0.0", "--port", "5600")  # noqa: S104 - allowed with auth

    local, anywhere = started
    assert local[local.index("flower") :] == [
        "flower",
        "--address=127.0.0.1",
        "--port=5555",
        "--logging=none",
    ]
    assert anywhere[anywhere.index("flower") :] == [
        "flower", "--address=0.0.0.0", "--port=5600", "--logging=none", "--basic-auth=ops:secret"
    ]  # fmt: skip


@pytest.mark.workers
@pytest.mark.timeout(120)
def test_the_real_flower_sees_the_worker_pools_and_serves_metrics(pipeline, tmp_path):
    port = free_port()
    log = open(tmp_path / "flower.log", "wb")  # noqa: SIM115 - closed below
    env = {**pipeline.env, "FLOWER_BASIC_AUTH": "ops:secret"}
    flower = subprocess.Popen(
        [sys.executable, "manage.py", "run_flower", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    auth = {"Authorization": "Basic " + base64.b64encode(b"ops:secret").decode()}

    def get(path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own local URL
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, b""
        except OSError:
            return 0, b""

    try:
        wait_for(lambda: get("/healthcheck")[0] == 200, timeout=40, message="flower")
        assert get("/api/workers")[0] == 401
        email_worker = pipeline.hostname("email")

        def workers_seen() -> dict:
            status, body = get("/api/workers?refresh=1", auth)
            return json.loads(body) if status == 200 else {}

        wait_for(
            lambda: any(name.startswith(f"{email_worker}@") for name in workers_seen()),
            timeout=40,
            message="the email pool in flower",
        )
        status, metrics = get("/metrics")
        assert status == 200
        assert b"flower_worker_online" in metrics
    finally:
        flower.terminate()
        flower.wait(timeout=20)
        log.close()
    lines = [json.loads(line) for line in (tmp_path / "flower.log").read_text().splitlines() if line.strip()]
    assert lines and {line["role"] for line in lines} == {"flower"}
