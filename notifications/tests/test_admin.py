"""The admin's operations page (queue depths, breakers, outbox, dead letters and their replay) and a
notification's timeline, through Django's test client against the real RabbitMQ vhost of the suite."""

import csv
import io
import time
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone

from notifications.channels import Channel
from notifications.models import (
    AttemptOutcome,
    Broadcast,
    DeliveryAttempt,
    Notification,
    NotificationStatus,
    OutboxEntry,
    Topic,
    TopicSubscription,
)
from notifications.providers.registry import provider_for
from notifications.services.dlq import dlq_list
from notifications.tests.conftest import purge_queues, queue_depth
from notifications.tests.factories import NotificationFactory
from notifications.tests.test_metrics import publish_dead_letter
from users.tests.factories import UserFactory

OPERATIONS_URL = "/admin/notifications/notification/operations/"
REPLAY_URL = "/admin/notifications/notification/operations/replay/"


@pytest.fixture
def clean_queues(broker):
    purge_queues()
    yield
    purge_queues()


def _failed_notification(user, **fields) -> Notification:
    failure = {
        "status": NotificationStatus.FAILED,
        "error": "permanent: recipient refused: 550 5.1.1 no such mailbox",
        "correlation_id": "trace-admin-1",
        "attempts": 1,
    }
    return NotificationFactory(user=user, **{**failure, **fields})


def test_the_changelist_links_to_the_operations_page(superuser_client):
    response = superuser_client.get("/admin/notifications/notification/")

    assert response.status_code == 200
    assert f'href="{OPERATIONS_URL}"' in response.content.decode()


def test_the_operations_page_shows_depths_backlog_breakers_and_dead_letters(
    superuser_client, clean_queues, user
):
    notification = _failed_notification(user)
    publish_dead_letter(str(notification.id))
    pending = _failed_notification(user, status=NotificationStatus.PENDING)
    OutboxEntry.objects.create(notification=pending)

    response = superuser_client.get(OPERATIONS_URL)

    assert response.status_code == 200
    assert [(d.queue, d.messages) for d in response.context["dead_letter_queues"]] == [
        ("email.dlq", 1),
        ("push.dlq", 0),
    ]
    assert [d.queue for d in response.context["queues"]] == [
        "email.urgent.queue", "email.queue", "email.bulk.queue", "push.urgent.queue", "push.queue",
        "push.bulk.queue", "webhook.queue",
    ]  # fmt: skip
    assert response.context["outbox_backlog"] == 1
    assert response.context["fan_out"].broadcasts == 0
    assert 'id="fan-out-backlog">0 (0 s)</td>' in response.content.decode()
    email_breaker, push_breaker = (provider_for(channel).breaker_name for channel in ("email", "push"))
    assert response.context["breakers"] == {
        email_breaker: "closed", push_breaker: "closed", "push.webpush": "closed",
    }  # fmt: skip
    [letter] = response.context["dead_letters"]
    assert letter.notification_id == str(notification.id)
    assert letter.reason == "permanent: recipient refused: 550 5.1.1 no such mailbox"
    page = response.content.decode()
    assert f'name="notification_id" value="{notification.id}"' in page
    assert 'value="Replay all…"' in page
    assert "csrfmiddlewaretoken" in page
    assert 'id="outcomes-chart"' in page
    assert '<meta http-equiv="refresh" content="10">' in page


def test_replaying_one_dead_letter_requeues_only_that_notification(superuser_client, clean_queues, user):
    first = _failed_notification(user)
    second = _failed_notification(user)
    publish_dead_letter(str(first.id))
    publish_dead_letter(str(second.id))

    response = superuser_client.post(REPLAY_URL, {"notification_id": str(first.id)}, follow=True)

    assert response.redirect_chain == [(OPERATIONS_URL, 302)]
    assert "1 dead letter(s) replayed" in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status in (NotificationStatus.PENDING, NotificationStatus.QUEUED)
    assert first.error == ""
    assert second.status == NotificationStatus.FAILED
    assert queue_depth(Channel("email").dlq) == 1


def test_replay_all_requeues_every_dead_letter(superuser_client, clean_queues, user):
    failed = [_failed_notification(user) for _ in range(2)]
    sent = _failed_notification(user, status=NotificationStatus.SENT)
    for notification in [*failed, sent]:
        publish_dead_letter(str(notification.id))

    asked = superuser_client.post(REPLAY_URL)
    depth_while_asked = queue_depth(Channel("email").dlq)
    response = superuser_client.post(REPLAY_URL, {"confirmed": "yes"}, follow=True)

    assert "Replay all 3 dead letter(s)?" in asked.content.decode()
    assert depth_while_asked == 3
    assert "2 dead letter(s) replayed; 1 dropped" in response.content.decode()
    assert queue_depth(Channel("email").dlq) == 0
    statuses = set(
        Notification.objects.filter(id__in=[n.id for n in failed]).values_list("status", flat=True)
    )
    assert statuses <= {NotificationStatus.PENDING, NotificationStatus.QUEUED}
    sent.refresh_from_db()
    assert sent.status == NotificationStatus.SENT


def test_replay_of_a_letter_no_longer_there_says_so(superuser_client, clean_queues, user):
    notification = _failed_notification(user)

    response = superuser_client.post(REPLAY_URL, {"notification_id": str(notification.id)}, follow=True)

    assert "is no longer in a dead-letter queue" in response.content.decode()
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED


def test_replay_takes_only_post(superuser_client, clean_queues):
    assert superuser_client.get(REPLAY_URL).status_code == 405


def test_replay_needs_the_csrf_token(clean_queues, user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    notification = _failed_notification(user)
    publish_dead_letter(str(notification.id))

    response = client.post(REPLAY_URL, {"notification_id": str(notification.id)})

    assert response.status_code == 403
    assert queue_depth(Channel("email").dlq) == 1


def test_operations_are_for_staff_only(db, clean_queues):
    anonymous = Client()
    staff_without_permissions = Client()
    staff_without_permissions.force_login(UserFactory(is_staff=True))

    assert anonymous.get(OPERATIONS_URL).status_code == 302  # to the login page
    assert anonymous.post(REPLAY_URL).status_code == 302
    assert staff_without_permissions.get(OPERATIONS_URL).status_code == 403
    assert staff_without_permissions.post(REPLAY_URL).status_code == 403


def test_the_operations_page_when_the_broker_is_down(superuser_client, settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"

    response = superuser_client.get(OPERATIONS_URL)

    assert response.status_code == 200
    assert response.context["broker_error"]
    assert "The broker did not answer" in response.content.decode()


def test_a_notification_page_shows_its_timeline_and_correlation_id(superuser_client, user):
    created = timezone.now() - timedelta(minutes=5)
    notification = _failed_notification(user, queued_at=created + timedelta(seconds=1))
    Notification.objects.filter(pk=notification.pk).update(
        created_at=created, failed_at=created + timedelta(seconds=3)
    )
    DeliveryAttempt.objects.create(
        notification=notification, number=1, worker="email@host-1", outcome=AttemptOutcome.PERMANENT_ERROR,
        error_class="PermanentDeliveryError", error_message="recipient refused: 550 5.1.1 no such mailbox",
        started_at=created + timedelta(seconds=2), finished_at=created + timedelta(seconds=2),
    )  # fmt: skip

    response = superuser_client.get(f"/admin/notifications/notification/{notification.id}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "trace-admin-1" in page
    timeline = page[page.index('class="notification-timeline"') :]
    events = [timeline.index(f"<td>{event}</td>") for event in ("created", "queued", "attempt 1", "failed")]
    assert events == sorted(events)
    assert "PermanentDeliveryError: recipient refused: 550 5.1.1 no such mailbox" in timeline
    assert "email@host-1" in timeline


def test_the_retry_action_still_requeues_failed_notifications(superuser_client, user):
    failed = _failed_notification(user)
    sent = _failed_notification(user, status=NotificationStatus.SENT)

    response = superuser_client.post(
        "/admin/notifications/notification/",
        {"action": "retry_notifications", "_selected_action": [str(failed.id), str(sent.id)]},
        follow=True,
    )

    assert response.status_code == 200
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert failed.status in (NotificationStatus.PENDING, NotificationStatus.QUEUED)
    assert sent.status == NotificationStatus.SENT


def test_retrying_failed_notifications_takes_their_dead_letters_out_and_counts_right(
    superuser_client, clean_queues, user
):
    failed = [_failed_notification(user) for _ in range(2)]
    for notification in failed:
        publish_dead_letter(str(notification.id))
    other = _failed_notification(user)
    publish_dead_letter(str(other.id))  # not selected: stays

    # The list filtered to failed ones, as an operator would select them; the filter re-applied after the
    # retry used to make the count of "not failed" negative.
    response = superuser_client.post(
        "/admin/notifications/notification/?status__exact=failed",
        {"action": "retry_notifications", "_selected_action": [str(n.id) for n in failed]},
        follow=True,
    )

    message = next(iter(response.context["messages"])).message
    assert message == (
        "2 failed notification(s) requeued (2 dead letter(s) taken out of the dead-letter queues); "
        "0 not failed, left alone."
    )
    assert all(Notification.objects.get(pk=n.pk).status == NotificationStatus.PENDING for n in failed)
    assert [letter.notification_id for letter in dlq_list(channel="email")] == [str(other.id)]
    history = LogEntry.objects.filter(object_id__in=[str(n.id) for n in failed])
    assert (
        sorted(entry.change_message for entry in history)
        == ["Retried: requeued with a fresh retry budget."] * 2
    )


def test_replaying_from_the_operations_page_leaves_an_admin_history_entry(
    superuser_client, clean_queues, user
):
    notification = _failed_notification(user)
    publish_dead_letter(str(notification.id))

    superuser_client.post(REPLAY_URL, {"notification_id": str(notification.id)})

    [entry] = LogEntry.objects.filter(object_id=str(notification.id))
    assert entry.change_message == "Replayed from the dead-letter queue."


def test_a_render_failure_shows_on_the_notification_page(superuser_client, user):
    notification = _failed_notification(user, error="render error: The rendered link is not an http(s) URL.")
    DeliveryAttempt.objects.create(
        notification=notification, number=1, worker="email@host:1", outcome=AttemptOutcome.PERMANENT_ERROR,
        error_class="TemplateRenderedUrlError", error_message="The rendered link is not an http(s) URL.",
        started_at=timezone.now(), finished_at=timezone.now(),
    )  # fmt: skip

    page = superuser_client.get(
        f"/admin/notifications/notification/{notification.id}/change/"
    ).content.decode()

    assert "TemplateRenderedUrlError" in page
    assert page.count("The rendered link is not an http(s) URL.") >= 2


@pytest.mark.django_db
def test_topics_show_their_subscribers_and_broadcasts_their_progress(superuser_client):
    topic = Topic.objects.create(key="product-news", name="Product news")
    users = [UserFactory(), UserFactory()]
    for user in users:
        TopicSubscription.objects.create(topic=topic, user=user)
    broadcast = Broadcast.objects.create(
        caller="key:x", request_id="r", request_hash="h", topic=topic, topic_key="product-news",
        notification_type="email", template_code="welcome", recipients=2, notifications_created=2,
    )  # fmt: skip
    NotificationFactory(user=users[0], broadcast=broadcast, status=NotificationStatus.SENT)
    NotificationFactory(user=users[1], broadcast=broadcast, status=NotificationStatus.SKIPPED)

    topics = superuser_client.get("/admin/notifications/topic/").content.decode()
    subscribers = superuser_client.get(
        f"/admin/notifications/topicsubscription/?topic__id__exact={topic.pk}"
    ).content.decode()
    page = superuser_client.get(f"/admin/notifications/broadcast/{broadcast.pk}/change/").content.decode()
    its_notifications = superuser_client.get(
        f"/admin/notifications/notification/?broadcast__id__exact={broadcast.pk}"
    ).content.decode()

    assert "product-news" in topics
    assert f'?topic__id__exact={topic.pk}">2</a>' in topics
    assert users[0].email in subscribers and users[1].email in subscribers
    assert "<tr><td>sent</td><td>1</td></tr><tr><td>skipped</td><td>1</td></tr>" in page
    assert "2 notifications" in its_notifications


@pytest.mark.django_db
def test_the_admin_index_is_titled_after_the_product_and_lists_what_an_operator_acts_on(superuser_client):
    page = superuser_client.get("/admin/").content.decode()

    assert "<title>Notifications, templates, users and operations | notifier</title>" in page
    assert "notifier administration" in page
    assert "Outbox entries" in page and "Outbox entrys" not in page
    assert "Blacklisted tokens" not in page and "Outstanding tokens" not in page
    assert "Users" in page and "API keys" in page


PURGE_URL = "/admin/notifications/notification/operations/purge/"


def test_purge_counts_first_then_drops_only_the_chosen_queue_and_names_who_did_it(
    superuser_client, clean_queues, user
):
    email_letter = _failed_notification(user)
    push_letter = _failed_notification(user, notification_type="push")
    publish_dead_letter(str(email_letter.id))
    publish_dead_letter(str(push_letter.id), channel="push")

    asked = superuser_client.post(PURGE_URL, {"queue": "email", "older_than": ""})
    depths_while_asked = (queue_depth("email.dlq"), queue_depth("push.dlq"))
    done = superuser_client.post(
        PURGE_URL, {"queue": "email", "older_than": "", "confirmed": "yes"}, follow=True
    )

    assert "Purge 1 dead letter(s) from email.dlq?" in asked.content.decode()
    assert depths_while_asked == (1, 1)
    assert "1 dead letter(s) purged from email.dlq." in done.content.decode()
    assert (queue_depth("email.dlq"), queue_depth("push.dlq")) == (0, 1)
    [entry] = LogEntry.objects.filter(object_repr="dead-letter queues")
    assert entry.change_message == "Purged 1 dead letter(s) from email.dlq."
    assert entry.user.is_superuser


def test_purge_refuses_an_age_that_is_not_a_duration_and_drops_nothing(superuser_client, clean_queues, user):
    publish_dead_letter(str(_failed_notification(user).id))

    response = superuser_client.post(PURGE_URL, {"older_than": "soon", "confirmed": "yes"}, follow=True)

    assert "--older-than" not in response.content.decode()
    assert "soon" in response.content.decode()
    assert queue_depth("email.dlq") == 1
    assert not LogEntry.objects.filter(object_repr="dead-letter queues").exists()


def test_the_operations_page_draws_each_queue_s_trend_from_its_samples(superuser_client, clean_queues, user):
    from django_redis import get_redis_connection

    from notifications.selectors import QueueDepth
    from notifications.services.trends import SAMPLES_KEY, queue_depths_sample_record

    get_redis_connection("default").delete(SAMPLES_KEY)
    for age, messages in ((600, 4), (300, 9)):
        depth = QueueDepth(
            queue="email.dlq", channel="email", dead_letter=True, messages=messages, consumers=0
        )
        queue_depths_sample_record(depths=[depth], now=time.time() - age)

    response = superuser_client.get(OPERATIONS_URL + "?refresh=0")

    page = response.content.decode()
    assert response.context["samples"] == 3  # two kept and the one this view took
    assert '<svg class="trend"' in page and 'aria-label="email.dlq"' in page
    assert "email.dlq: max 9, now 0" in page
    assert "<meta http-equiv" not in page


def test_attempts_sent_and_failed_are_counted_per_minute_of_the_last_hour(db, user):
    from notifications.services.trends import outcomes_per_minute

    now = timezone.now()
    notification = NotificationFactory(user=user)
    for number, (outcome, minutes_ago) in enumerate(
        [
            (AttemptOutcome.SENT, 120),  # before the hour: left out
            (AttemptOutcome.SENT, 2),
            (AttemptOutcome.SENT, 2),
            (AttemptOutcome.TRANSIENT_ERROR, 0),
            (AttemptOutcome.PERMANENT_ERROR, 0),
            (AttemptOutcome.SKIPPED, 0),  # neither
        ],
        start=1,
    ):
        at = now - timedelta(minutes=minutes_ago)
        DeliveryAttempt.objects.create(
            notification=notification, number=number, outcome=outcome, started_at=at, finished_at=at
        )

    rows = outcomes_per_minute(now=now)

    assert len(rows) == 60
    assert sum(sent for _, sent, _ in rows) == 2 and sum(failed for _, _, failed in rows) == 2
    assert rows[-3][1:] == (2, 0) and rows[-1][1:] == (0, 2)


def test_the_list_shows_badges_and_reasons_and_filters_by_provider_caller_and_dates(superuser_client, user):
    old = _failed_notification(user, caller="key:Abc123")
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    by_backup = _failed_notification(user, caller="key:Abc123", error="")
    DeliveryAttempt.objects.create(
        notification=by_backup,
        number=1,
        outcome=AttemptOutcome.SENT,
        provider="backup",
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    by_user = _failed_notification(user, caller=f"user:{user.id}")

    page = superuser_client.get("/admin/notifications/notification/").content.decode()
    by_provider = superuser_client.get("/admin/notifications/notification/?provider=backup").context["cl"]
    by_users = superuser_client.get("/admin/notifications/notification/?caller=user:").context["cl"]
    today = timezone.now().date().isoformat()
    recent = superuser_client.get(
        f"/admin/notifications/notification/?created_at__range__gte_0={today}&created_at__range__gte_1=00:00:00"
    ).context["cl"]

    assert '<span class="badge status-failed">failed</span>' in page
    assert 'title="permanent: recipient refused: 550 5.1.1 no such mailbox"' in page
    assert [n.pk for n in by_provider.result_list] == [by_backup.pk]
    assert by_provider.result_list[0].last_provider == "backup"
    assert [n.pk for n in by_users.result_list] == [by_user.pk]
    assert {n.pk for n in recent.result_list} == {by_backup.pk, by_user.pk}


def test_the_csv_export_has_the_filtered_list_only(superuser_client, user):
    failed = _failed_notification(user)
    sent = _failed_notification(user, status=NotificationStatus.SENT, error="")

    response = superuser_client.post(
        "/admin/notifications/notification/export/?status__exact=failed",
        {"format": "0", "notificationresource_id": "on", "notificationresource_status": "on",
         "notificationresource_error": "on", "resource": "0"},
    )  # fmt: skip

    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["id", "status", "error"] or rows[0] == ["id", "status", "error"]
    assert [row[0] for row in rows[1:]] == [str(failed.id)]
    assert str(sent.id) not in response.content.decode()


def test_the_scheduler_samples_the_queue_depths_and_a_broker_outage_only_skips_a_sample(
    clean_queues, settings
):
    from django_redis import get_redis_connection

    from notifications.services.trends import SAMPLES_KEY, queue_depth_trend
    from notifications.tasks import sample_queue_depths
    from notifier.celery import app

    get_redis_connection("default").delete(SAMPLES_KEY)
    schedule = settings.CELERY_BEAT_SCHEDULE["sample-queue-depths"]

    broker_url = settings.CELERY_BROKER_URL
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    settings.METRICS_BROKER_TIMEOUT_SECONDS = 0.5
    sample_queue_depths()
    during_outage = queue_depth_trend()
    settings.CELERY_BROKER_URL = broker_url
    sample_queue_depths()

    assert during_outage == []
    [sample] = queue_depth_trend()
    assert sample.depths["email.dlq"] == 0 and "webhook.queue" in sample.depths
    assert schedule["task"] == sample_queue_depths.name
    assert app.amqp.router.route({}, sample_queue_depths.name)["queue"].name == "housekeeping.queue"
