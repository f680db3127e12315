"""An operator's day in the admin, in the real Chromium (Playwright) at 1,400 px: the notification list
(badges, reasons, every column in view), its CSV export, the operations page (charts, a "Replay all"
confirmed on its own page), and a template's new version written, compared and rolled back. Each step's
screenshot is saved for review in var/screenshots/ (the path is printed)."""

import csv
from pathlib import Path

import pytest
from django.utils import timezone

from notifications.models import AttemptOutcome, DeliveryAttempt, Notification, NotificationStatus
from notifications.tests.conftest import purge_queues, queue_depth
from notifications.tests.factories import NotificationFactory
from notifications.tests.test_admin_browser import CHROMIUM, CHROMIUM_ARGS
from notifications.tests.test_metrics import publish_dead_letter
from templates_app.models import Template
from templates_app.services import template_create_or_version
from users.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
REASON = "permanent: recipient refused: 550 5.1.1 no such mailbox"


def test_an_operator_works_through_the_admin_in_the_browser(live_server, broker, transactional_db, tmp_path):
    from django.contrib.admin.models import LogEntry
    from playwright.sync_api import expect, sync_playwright

    purge_queues()
    operator = UserFactory(email="operator@example.com", is_staff=True, is_superuser=True)
    # Deliverable once replayed: the suite's workers, when running, send it; otherwise it waits, requeued.
    failed = NotificationFactory(
        status=NotificationStatus.FAILED, error=REASON, attempts=1, variables={"name": "Ada"}
    )
    sent = NotificationFactory(status=NotificationStatus.SENT)
    now = timezone.now()
    DeliveryAttempt.objects.create(
        notification=failed, number=1, outcome=AttemptOutcome.PERMANENT_ERROR, provider="smtp",
        error_message=REASON, started_at=now, finished_at=now,
    )  # fmt: skip
    publish_dead_letter(str(failed.id))
    first = template_create_or_version(
        code="welcome", language="en", notification_type="email", subject="Hi {{name}}", body="Hello {{name}}"
    )
    template = first.template
    admin = f"{live_server.url}/admin/"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"screenshots of the admin: {SCREENSHOTS}")

    # No database access inside the browser session: Playwright's sync API runs an event loop in this
    # thread, and Django refuses ORM calls from one.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        page.set_default_timeout(15_000)

        def shot(name: str) -> None:
            page.screenshot(path=str(SCREENSHOTS / f"admin-{name}.png"), full_page=True)

        try:
            page.goto(admin)
            page.fill("#id_username", operator.email)
            page.fill("#id_password", DEFAULT_PASSWORD)
            page.click("input[type=submit]")
            expect(page.locator("#operations-link a")).to_be_visible()
            shot("1-index")

            # The list: a badge per status, the reason as a column, nothing cut off at 1,400 px.
            page.goto(f"{admin}notifications/notification/")
            row = page.locator(f"#result_list tr:has(span[title='{failed.id}'])")
            expect(row.locator(".badge.status-failed")).to_have_text("failed")
            expect(row.locator(".error-reason")).to_have_attribute("title", REASON)
            widths = page.evaluate(
                "() => { const r = document.querySelector('#changelist-form .results');"
                " return [r.scrollWidth, r.clientWidth]; }"
            )
            assert widths[0] <= widths[1], f"the list is wider than the page: {widths}"
            for name in ("status", "provider", "caller", "created between"):
                expect(page.locator("#changelist-filter")).to_contain_text(name, ignore_case=True)
            shot("2-notification-list")

            # The CSV export of the list filtered on failures.
            page.goto(f"{admin}notifications/notification/?status__exact=failed")
            page.click("a.export_link, a:text('Export')")
            page.select_option("#id_format", label="csv")
            shot("3-export")
            with page.expect_download() as download:
                page.click(".submit-row input[type=submit]")
            exported = list(csv.DictReader(Path(download.value.path()).read_text().splitlines()))

            # Operations: the charts, then "Replay all" asked on its own page and confirmed.
            page.goto(f"{admin}notifications/notification/operations/?refresh=0")
            expect(page.locator("#outcomes-chart")).to_be_visible()
            expect(page.locator('tr[data-queue="email.dlq"] td.messages')).to_have_text("1")
            shot("4-operations")
            page.click("#replay-all input[type=submit]")
            expect(page.locator("#confirm-question")).to_contain_text("Replay all 1 dead letter(s)?")
            shot("5-replay-confirmation")
            page.click("#confirm input[type=submit]")
            expect(page.locator("ul.messagelist")).to_contain_text("1 dead letter(s) replayed")

            # A template's new version: written here, its changes shown; then version 1 made active again.
            page.goto(f"{admin}templates_app/template/{template.pk}/change/")
            page.click("#new-version-link")
            expect(page.locator("#id_subject")).to_have_value("Hi {{name}}")
            page.fill("#id_subject", "Welcome aboard, {{name}}")
            shot("6-new-version")
            page.click("#new-version input[type=submit]")
            expect(page.locator("ul.messagelist")).to_contain_text("it is now active")
            expect(page.locator(".template-diff table.diff")).to_contain_text("Welcome aboard")
            shot("7-version-changes")
            page.goto(f"{admin}templates_app/templateversion/{first.pk}/change/")
            page.click("#activate-version input[type=submit]")
            expect(page.locator("ul.messagelist")).to_contain_text("is now active")
            page.goto(f"{admin}templates_app/template/{template.pk}/change/")
            expect(page.locator("tr:has(.active-version) td.field-version")).to_contain_text("1")
            shot("8-template-versions")
        except Exception:
            shot("failure")
            raise
        finally:
            browser.close()

    assert [row["id"] for row in exported] == [str(failed.id)]
    assert exported[0]["error"] == REASON and str(sent.id) not in str(exported)
    failed.refresh_from_db()
    requeued = (NotificationStatus.PENDING, NotificationStatus.QUEUED, NotificationStatus.SENDING)
    assert failed.status in (*requeued, NotificationStatus.SENT)
    assert queue_depth("email.dlq") == 0
    assert Template.objects.get(pk=template.pk).active_version == first
    assert template.versions.count() == 2
    history = set(LogEntry.objects.filter(user=operator).values_list("change_message", flat=True))
    assert {
        "Replayed from the dead-letter queue.",
        "Version 2 written and activated.",
        "Version 1 activated.",
    } <= history
    assert Notification.objects.get(pk=sent.pk).status == NotificationStatus.SENT
