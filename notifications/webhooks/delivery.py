"""Sending webhook events: the relay's publishing, the worker's lease, send and record, and replays.

Every step is safe to repeat: the relay publishes an event again only after its lease ran out, a worker
sends only what its lease statement returned, and a recorded event is never leased again.
"""

import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from notifications.models import WebhookAttempt, WebhookEndpoint, WebhookEvent, WebhookEventState
from notifications.services.publisher import BatchPublisher, WebhookTask
from notifications.webhooks.endpoints import PARKED, webhook_endpoint_disable
from notifications.webhooks.policy import webhook_lease_seconds, webhook_policy
from notifications.webhooks.signing import webhook_body, webhook_headers
from notifier.outbound import BoundedSession, OutboundRefused

logger = logging.getLogger(__name__)

EVENTS = WebhookEvent._meta.db_table
ENDPOINTS = WebhookEndpoint._meta.db_table
# Ordering-held events (an earlier one of their notification is still pending) are looked at again then.
HELD_RETRY_SECONDS = 2.0


# --- relay --------------------------------------------------------------------------------------------


def webhook_events_relay_once(*, publisher: BatchPublisher, limit: int = 500) -> int:
    """Publishes the due events of active endpoints to webhook.queue, grouped per endpoint, and leases them
    for the workers; returns how many. Raises PublishFailed (nothing changes) when the broker did not
    confirm."""
    # Most installations have no endpoint: one small read then, and no lock on the events table.
    if not WebhookEndpoint.objects.filter(is_active=True).exists():
        return 0
    lease = webhook_lease_seconds()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT e.id, e.endpoint_id FROM {EVENTS} e
              JOIN {ENDPOINTS} p ON p.id = e.endpoint_id AND p.is_active
             WHERE e.state = %s AND e.available_at <= now()
             ORDER BY e.available_at, e.id
             LIMIT %s
             FOR UPDATE OF e SKIP LOCKED
            """,  # noqa: S608 - table names come from the models, values are parameters
            [WebhookEventState.PENDING, limit],
        )
        rows = cursor.fetchall()
        if not rows:
            return 0
        per_endpoint: dict[int, list[int]] = {}
        for event_id, endpoint_id in rows:
            per_endpoint.setdefault(endpoint_id, []).append(event_id)
        size = max(settings.WEBHOOK_BATCH_SIZE, 1)
        tasks = [
            WebhookTask(endpoint_id=endpoint_id, event_ids=tuple(chunk))
            for endpoint_id, ids in per_endpoint.items()
            for chunk in (sorted(ids)[start : start + size] for start in range(0, len(ids), size))
        ]
        publisher.publish(tasks)
        cursor.execute(
            f"UPDATE {EVENTS} SET available_at = now() + %s * interval '1 second' WHERE id = ANY(%s)",  # noqa: S608
            [lease, [row[0] for row in rows]],
        )
    logger.info("webhook events published", extra={"count": len(rows), "messages": len(tasks)})
    return len(rows)


# --- worker -------------------------------------------------------------------------------------------


@dataclass
class _Event:
    id: int
    payload: Any
    attempts: int
    created_at: datetime


@dataclass
class _Result:
    """What became of the message's events; recorded in one transaction."""

    delivered: list[int] = field(default_factory=list)
    retry: dict[int, tuple[datetime, str]] = field(default_factory=dict)  # id -> (due, error)
    gave_up: dict[int, str] = field(default_factory=dict)
    released: list[int] = field(default_factory=list)  # not tried (budget spent): due again at once
    attempts: list[WebhookAttempt] = field(default_factory=list)
    disable_reason: str = ""
    endpoint_failed: bool = False
    endpoint_succeeded: bool = False


@dataclass(frozen=True)
class WebhookReport:
    delivered: int
    retried: int
    failed: int
    skipped: int


def _lease(event_ids: list[int], endpoint_id: int) -> list[_Event]:
    """Leases the message's events that are pending, not held by another worker, of an active endpoint,
    and not waiting behind an earlier pending event of the same notification; in id order."""
    lease = webhook_lease_seconds()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH candidates AS (
                SELECT e.id FROM {EVENTS} e
                  JOIN {ENDPOINTS} p ON p.id = e.endpoint_id AND p.is_active
                 WHERE e.id = ANY(%(ids)s) AND e.endpoint_id = %(endpoint)s AND e.state = %(pending)s
                   AND (e.leased_until IS NULL OR e.leased_until < now())
                   AND NOT EXISTS (
                       SELECT 1 FROM {EVENTS} b
                        WHERE b.endpoint_id = e.endpoint_id AND b.notification_id = e.notification_id
                          AND b.state = %(pending)s AND b.id < e.id
                          AND (NOT (b.id = ANY(%(ids)s)) OR b.leased_until >= now())
                   )
                 FOR UPDATE OF e SKIP LOCKED
            )
            UPDATE {EVENTS} e
               SET leased_until = now() + %(lease)s * interval '1 second',
                   available_at = now() + %(lease)s * interval '1 second'
              FROM candidates c WHERE e.id = c.id
            RETURNING e.id, e.payload, e.attempts, e.created_at
            """,  # noqa: S608 - table names come from the models, values are parameters
            {"ids": event_ids, "endpoint": endpoint_id, "pending": WebhookEventState.PENDING, "lease": lease},
        )
        leased = sorted((_Event(*row) for row in cursor.fetchall()), key=lambda event: event.id)
        held = sorted(set(event_ids) - {event.id for event in leased})
        if held:
            # Waiting behind an earlier event (or another worker): looked at again shortly, not a lease later.
            cursor.execute(
                f"""
                UPDATE {EVENTS} SET available_at = now() + %s * interval '1 second'
                 WHERE id = ANY(%s) AND state = %s AND (leased_until IS NULL OR leased_until < now())
                """,  # noqa: S608
                [HELD_RETRY_SECONDS, held, WebhookEventState.PENDING],
            )
    for event in leased:
        if isinstance(event.payload, str):  # Django reads jsonb as text; its JSONField decodes it
            event.payload = json.loads(event.payload)
    return leased


def _backoff(attempts: int) -> timedelta:
    """Full jitter over the upper half: base·2^(n-1), at most WEBHOOK_RETRY_MAX_SECONDS."""
    ceiling = min(
        settings.WEBHOOK_RETRY_MAX_SECONDS, settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    )
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def _signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    secrets_ = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > now
    ):
        secrets_.append(endpoint.previous_secret)
    return secrets_


def _request_of(events: list[_Event], now: datetime) -> tuple[str, str]:
    """The message id and body of one request: an event alone, or a `batch` of several."""
    if len(events) == 1:
        return f"evt_{events[0].id}", webhook_body(events[0].payload)
    ids = [event.id for event in events]
    body = {
        "type": "batch",
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": [{"id": f"evt_{event.id}", **event.payload} for event in events],
    }
    return f"evt_batch_{ids[0]}_{ids[-1]}_{len(ids)}", webhook_body(body)


def _post(
    session: BoundedSession, endpoint: WebhookEndpoint, events: list[_Event]
) -> tuple[int | None, str, str, int]:
    """One request: (status code or None, error, the answer's first bytes, latency in ms)."""
    now = timezone.now()
    message_id, body = _request_of(events, now)
    headers = webhook_headers(
        message_id=message_id, body=body, at=now, secrets_=_signing_secrets(endpoint, now)
    )
    started = time.monotonic()
    try:
        response = session.post(endpoint.url, data=body.encode(), headers=headers)
    except OutboundRefused as exc:
        return None, f"refused: {exc.reason}", "", _ms(started)
    except requests.Timeout as exc:
        return None, f"timeout: {exc.__class__.__name__}", "", _ms(started)
    except requests.RequestException as exc:
        return None, f"{exc.__class__.__name__}: {exc}"[:1000], "", _ms(started)
    text = (response.content or b"").decode("utf-8", errors="replace")
    return response.status_code, "", text, _ms(started)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _send(endpoint: WebhookEndpoint, events: list[_Event], *, worker: str) -> _Result:
    result = _Result()
    budget_ends = time.monotonic() + settings.WEBHOOK_MESSAGE_BUDGET_SECONDS
    per_request = max(1, min(endpoint.max_events_per_request, settings.WEBHOOK_MAX_EVENTS_PER_REQUEST))
    window = timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
    session = BoundedSession(webhook_policy())
    try:
        for start in range(0, len(events), per_request):
            group = events[start : start + per_request]
            rest = events[start + per_request :]
            if time.monotonic() >= budget_ends:
                result.released.extend(event.id for event in events[start:])
                break
            status, error, answer, latency = _post(session, endpoint, group)
            succeeded = status is not None and 200 <= status < 300
            for event in group:
                result.attempts.append(
                    WebhookAttempt(
                        event_id=event.id, endpoint_id=endpoint.id, status_code=status, latency_ms=latency,
                        error=error or ("" if succeeded else f"HTTP {status}"), response_body=answer[:4000],
                        succeeded=succeeded, worker=worker[:255],
                    )
                )  # fmt: skip
            if succeeded:
                result.delivered.extend(event.id for event in group)
                result.endpoint_succeeded = True
                continue
            reason = error or f"HTTP {status}: {answer[:200]}"
            if status == 410:
                result.disable_reason = "the endpoint answered 410 Gone"
                # Kept pending: sent if the endpoint is enabled again.
                result.released.extend(event.id for event in [*group, *rest])
                break
            now = timezone.now()
            result.endpoint_failed = True
            for event in group:
                if now - event.created_at >= window:
                    result.gave_up[event.id] = f"gave up after {window}: {reason}"[:1000]
                else:
                    result.retry[event.id] = (now + _backoff(event.attempts + 1), reason[:1000])
            # The rest waits behind this one (order), due with it, not tried now.
            due = min((when for when, _ in result.retry.values()), default=now)
            for event in rest:
                result.retry.setdefault(event.id, (due, ""))
            break
    finally:
        session.close()
    return result


def _record(endpoint: WebhookEndpoint, result: _Result) -> None:
    tried = {attempt.event_id for attempt in result.attempts}
    with transaction.atomic():
        WebhookAttempt.objects.bulk_create(result.attempts)
        with connection.cursor() as cursor:
            if result.delivered:
                cursor.execute(
                    f"""
                    UPDATE {EVENTS} SET state = %s, delivered_at = now(), leased_until = NULL,
                           attempts = attempts + 1, last_error = ''
                     WHERE id = ANY(%s)
                    """,  # noqa: S608
                    [WebhookEventState.DELIVERED, result.delivered],
                )
            if result.retry:
                ids = list(result.retry)
                cursor.execute(
                    f"""
                    UPDATE {EVENTS} e SET available_at = u.due, leased_until = NULL,
                           attempts = e.attempts + u.tried,
                           last_error = CASE WHEN u.error = '' THEN e.last_error ELSE u.error END
                      FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[], %s::int[])
                           AS u(id, due, error, tried)
                     WHERE e.id = u.id
                    """,  # noqa: S608
                    [
                        ids,
                        [result.retry[i][0] for i in ids],
                        [result.retry[i][1] for i in ids],
                        [1 if i in tried else 0 for i in ids],
                    ],
                )
            if result.gave_up:
                ids = list(result.gave_up)
                cursor.execute(
                    f"""
                    UPDATE {EVENTS} e SET state = %s, leased_until = NULL, attempts = e.attempts + 1,
                           last_error = u.error
                      FROM unnest(%s::bigint[], %s::text[]) AS u(id, error) WHERE e.id = u.id
                    """,  # noqa: S608
                    [WebhookEventState.FAILED, ids, [result.gave_up[i] for i in ids]],
                )
            if result.released:
                cursor.execute(
                    f"""
                    UPDATE {EVENTS} SET available_at = now(), leased_until = NULL,
                           attempts = attempts + CASE WHEN id = ANY(%s) THEN 1 ELSE 0 END
                     WHERE id = ANY(%s)
                    """,  # noqa: S608
                    [list(tried), result.released],
                )
        if result.endpoint_succeeded and not result.endpoint_failed:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).exclude(failing_since=None).update(
                failing_since=None
            )
        elif result.endpoint_failed:
            result.disable_reason = result.disable_reason or _endpoint_failing(endpoint)
    if result.disable_reason:
        webhook_endpoint_disable(endpoint_id=endpoint.id, reason=result.disable_reason)


def _endpoint_failing(endpoint: WebhookEndpoint) -> str:
    """Marks since when the endpoint fails; the reason to disable it once that is longer than
    WEBHOOK_DISABLE_AFTER_SECONDS, else ""."""
    now = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since=None).update(failing_since=now)
    since = WebhookEndpoint.objects.filter(pk=endpoint.pk).values_list("failing_since", flat=True).first()
    if since is None or now - since < timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS):
        return ""
    return (
        f"every request failed since {since.isoformat()} "
        f"(longer than WEBHOOK_DISABLE_AFTER_SECONDS, {settings.WEBHOOK_DISABLE_AFTER_SECONDS} s)"
    )


def webhook_events_deliver(*, event_ids: list[int], endpoint_id: int, worker: str) -> WebhookReport:
    """Sends a message's events to their endpoint once and records the outcome."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).first()
    if endpoint is None:
        return WebhookReport(0, 0, 0, len(event_ids))
    events = _lease(event_ids, endpoint_id)
    if not events:
        return WebhookReport(0, 0, 0, len(event_ids))
    result = _send(endpoint, events, worker=worker)
    try:
        _record(endpoint, result)
    except IntegrityError:
        # The endpoint was deleted while its events were being sent: nothing is left to record.
        logger.info("webhook endpoint deleted during delivery", extra={"endpoint_id": endpoint.id})
        return WebhookReport(0, 0, 0, len(event_ids))
    if result.endpoint_failed:
        logger.warning(
            "webhook delivery failed",
            extra={"endpoint_id": endpoint.id, "events": len(result.retry) + len(result.gave_up)},
        )
    return WebhookReport(
        delivered=len(result.delivered),
        retried=len(result.retry),
        failed=len(result.gave_up),
        skipped=len(event_ids) - len(events),
    )


# --- replay -------------------------------------------------------------------------------------------


def webhook_events_replay(
    *,
    event_ids: list[int] | None = None,
    endpoint_id: int | None = None,
    states: tuple[str, ...] = (WebhookEventState.FAILED,),
    dry_run: bool = False,
) -> int:
    """Sends events again (failed ones by default; delivered ones too when asked): pending and due now.
    An event of a disabled endpoint waits until the endpoint is enabled. Returns how many."""
    events = WebhookEvent.objects.filter(state__in=states)
    if event_ids is not None:
        events = events.filter(id__in=event_ids)
    if endpoint_id is not None:
        events = events.filter(endpoint_id=endpoint_id)
    if dry_run:
        return events.count()
    reset = {"state": WebhookEventState.PENDING, "leased_until": None, "last_error": ""}
    with transaction.atomic():
        active = events.filter(endpoint__is_active=True).update(available_at=timezone.now(), **reset)
        parked = events.filter(endpoint__is_active=False).update(available_at=PARKED, **reset)
    return active + parked
