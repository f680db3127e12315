"""An operator in a real browser (Debian's Chromium, driven by Playwright): logs in to the admin, opens a
notification that failed permanently, reads its timeline, replays its dead letter from the operations
page once the recipient is fixed, and watches it become sent. Everything behind the browser is real:
Django's live server, the outbox relay, Celery workers on RabbitMQ, and an SMTP server."""

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notifications.channels import Channel
from notifications.models import AttemptOutcome, Notification, NotificationStatus
from notifications.tests.conftest import queue_depth
from standins.boundary import wait_for
from users.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.workers, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CORRELATION_ID = "trace-browser-1"


@pytest.fixture
def relay(pipeline: Any, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The outbox relay, as `make run` starts it (it publishes what the API and a replay enqueue)."""
    log = open(tmp_path / "relay.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "manage.py", "outbox_relay"],
        cwd=ROOT,
        env={**pipeline.env, "OUTBOX_RELAY_INTERVAL_SECONDS": "0.2"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    log.close()


def _accept(service_client: Any, user: Any) -> str:
    body = {
        "notification_type": "email",
        "user_id": str(user.id),
        "template_code": "welcome",
        "variables": {"name": "Ada", "code": "42"},
        "request_id": f"browser-{time.time_ns()}",
    }
    response = service_client.post(
        "/api/v1/notifications/", body, format="json", HTTP_X_CORRELATION_ID=CORRELATION_ID
    )
    assert response.status_code == 202, response.json()
    return response.json()["data"]["notification_id"]


def _status(notification_id: str) -> str:
    return Notification.objects.get(pk=notification_id).status


def test_an_operator_replays_a_failed_notification_in_the_browser(
    pipeline, relay, live_server, service_client, smtp_server, email_template, tmp_path
):
    from playwright.sync_api import expect, sync_playwright

    operator = UserFactory(email="operator@example.com", is_staff=True, is_superuser=True)
    recipient = UserFactory(email="gone@example.com")
    smtp_server.handler.always_refuse["gone@example.com"] = "550 5.1.1 no such mailbox"
    notification_id = _accept(service_client, recipient)
    wait_for(lambda: _status(notification_id) == NotificationStatus.FAILED, timeout=60, message="failed")
    wait_for(lambda: queue_depth(Channel("email").dlq) == 1, timeout=30, message="the dead letter")
    admin = f"{live_server.url}/admin/"
    change_url = f"{admin}notifications/notification/{notification_id}/change/"

    # No database access from here to the end of the browser session: Playwright's sync API runs an
    # event loop in this thread, and Django refuses ORM calls from one.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        try:
            page.goto(admin)
            page.fill("#id_username", operator.email)
            page.fill("#id_password", DEFAULT_PASSWORD)
            page.click("input[type=submit]")
            expect(page.locator("#user-tools")).to_contain_text("Log out")

            # The failed notification, from the list filtered on failures.
            page.goto(f"{admin}notifications/notification/?status__exact=failed")
            page.click(f"span[title='{notification_id}']")
            expect(page).to_have_url(re.compile(re.escape(change_url)))
            expect(page.locator(".field-status .readonly")).to_have_text(re.compile("^failed$", re.I))
            expect(page.locator(".field-correlation_id .readonly")).to_have_text(CORRELATION_ID)
            timeline = page.locator("table.notification-timeline")
            expect(timeline).to_contain_text("attempt 1")
            expect(timeline).to_contain_text(AttemptOutcome.PERMANENT_ERROR)
            expect(timeline).to_contain_text("recipient refused: 550 5.1.1 no such mailbox")

            # Its dead letter, on the operations page linked from the list.
            page.goto(f"{admin}notifications/notification/")
            page.click("text=Operations: queues and dead letters")
            expect(page.locator('tr[data-queue="email.dlq"] td.messages')).to_have_text("1")
            letter = page.locator(f'tr[data-notification-id="{notification_id}"]')
            expect(letter).to_contain_text("permanent: recipient refused: 550")

            smtp_server.handler.always_refuse.clear()  # the recipient's mailbox is fixed
            letter.locator("input[value=Replay]").click()
            expect(page.locator("ul.messagelist")).to_contain_text("1 dead letter(s) replayed")
            expect(page.locator("#no-dead-letters")).to_be_visible()

            # Back on the notification: reload until the workers have sent it.
            page.goto(change_url)
            deadline = time.monotonic() + 60
            status = page.locator(".field-status .readonly")
            while not re.fullmatch("sent", status.inner_text().strip(), re.I) and time.monotonic() < deadline:
                time.sleep(0.5)
                page.reload()
            expect(status).to_have_text(re.compile("^sent$", re.I))
            expect(page.locator("table.notification-timeline")).to_contain_text("attempt 2")
        except Exception:
            screenshot = tmp_path / "admin-browser-failure.png"
            page.screenshot(path=str(screenshot), full_page=True)
            print(f"screenshot of the failure: {screenshot}")
            raise
        finally:
            browser.close()

    notification = Notification.objects.get(pk=notification_id)
    assert notification.status == NotificationStatus.SENT
    assert [a.outcome for a in notification.delivery_attempts.order_by("number")] == [
        AttemptOutcome.PERMANENT_ERROR,
        AttemptOutcome.SENT,
    ]
    assert len(smtp_server.handler.messages_for(notification_id)) == 1
    assert queue_depth(Channel("email").dlq) == 0
