"""The worker path, one batch at a time: claim, prepare, send, record.

A task message carries up to DELIVERY_BATCH_SIZE notification ids of one channel. The batch is claimed in
one statement (delivery.claim), its recipients and templates read in a few round trips, its messages sent
over the provider's kept-open connection, and its outcomes recorded in sets. Each provider acceptance is
recorded before the next message goes out on the same connection, so a worker killed mid-batch can
send again at most the message in flight. Anything that cannot be sent now (a transient failure, an open
breaker, a notification another worker holds) goes back into the outbox, due after its backoff; the
relay publishes it then. A notification that fails permanently, runs out of retries, or kills its worker
BROKER_DELIVERY_LIMIT times ends `failed` with its reason, and the caller publishes a dead letter for it;
one whose expiry passed before a provider had it ends `expired` (never sent late, and not replayable).
"""

import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import pybreaker
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from notifications.channels import Channel
from notifications.delivery.claim import batch_claim, batch_release, mark_sending
from notifications.delivery.policy import (
    BUSY_RETRY_SECONDS,
    breaker_countdown,
    due_in,
    expired_reason,
    expires_at_of,
    retry_countdown,
)
from notifications.metrics import delivery_finished, provider_error, provider_sent
from notifications.models import AttemptOutcome, DeliveryAttempt, Notification, NotificationStatus
from notifications.providers.base import (
    DeliveryError,
    OutgoingEmail,
    OutgoingPush,
    PermanentDeliveryError,
    RecipientDeferredError,
    SendResult,
    TransientDeliveryError,
)
from notifications.providers.breakers import breaker_get, breaker_open_remaining
from notifications.providers.registry import ProviderSlot, providers_for
from notifications.services.outbox import outbox_defer
from notifications.services.preferences import NO_PUSH_DEVICE, channel_disabled_reason
from notifications.statuses import END_STATUSES
from notifier.api.errors import ApplicationError
from notifier.logging import correlation_id_set
from templates_app.models import TemplateVersion
from templates_app.rendering import RenderedTemplate, template_render, value_as_text
from templates_app.selectors import template_version_resolve
from users.selectors import UserProfile, devices_active_for_users, user_profiles_get
from users.services import devices_deactivate

logger = logging.getLogger(__name__)
T = TypeVar("T")

# After the provider accepted a message, the write that records it is retried on a new connection when
# the database connection broke: failing here would make a retry send it again.
RECORD_ATTEMPTS = 4


@dataclass(frozen=True)
class Failure:
    """A notification this batch ended `failed`: its dead letter is published by the caller."""

    notification_id: str
    reason: str
    correlation_id: str


@dataclass
class BatchReport:
    sent: int = 0
    skipped: int = 0
    deferred: int = 0
    already_done: int = 0
    failed: list[Failure] = field(default_factory=list)


@dataclass
class _Attempt:
    outcome: AttemptOutcome
    started_at: datetime
    error: Exception | None = None
    provider_message_id: str = ""
    template_version: int | None = None
    provider: str = ""


@dataclass
class _Outcome:
    """What becomes of one claimed notification that was not recorded as sent on the spot."""

    notification: Notification
    status: NotificationStatus
    error: str = ""
    due: datetime | None = None  # back into the outbox, due then
    transient_failures: int | None = None
    attempt: _Attempt | None = None
    # Corrects the count mark_sending made: +1 for a render that failed (never marked), -1 for one that was
    # marked but never reached the provider (the breaker opened, or the batch ran out of time first).
    attempts_delta: int = 0
    delivered_device_ids: list[int] | None = None
    provider_message_id: str = ""
    template_version: int | None = None


@dataclass
class _Plan:
    notification: Notification
    rendered: RenderedTemplate
    email: OutgoingEmail | None = None
    pushes: list[OutgoingPush] = field(default_factory=list)


def _durably(write: Callable[[], T]) -> T:
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        try:
            return write()
        except (OperationalError, InterfaceError):
            if attempt == RECORD_ATTEMPTS:
                raise
            logger.warning("recording a delivery outcome failed; retrying", extra={"attempt": attempt})
            connection.close()
            time.sleep(0.2 * attempt)
            _async_commit()
    raise AssertionError("unreachable")


def _async_commit() -> None:
    """The worker's writes need not wait for the WAL flush: they survive the worker's death (PostgreSQL
    has them); only a crash of PostgreSQL itself could lose the last ones, which then send again."""
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")


# --- prepare ------------------------------------------------------------------------------------------


def _refusal(notification: Notification, profile: UserProfile | None, *, poison: bool) -> _Outcome | None:
    expiry = expires_at_of(notification)
    if timezone.now() > expiry:
        return _Outcome(notification, NotificationStatus.EXPIRED, expired_reason(notification, expiry))
    if poison:
        return _Outcome(
            notification,
            NotificationStatus.FAILED,
            f"poison: delivered {settings.BROKER_DELIVERY_LIMIT} times without completing "
            "(the worker died each time)",
        )
    if profile is None or not profile.is_active:
        return _Outcome(notification, NotificationStatus.SKIPPED, "the user no longer exists or is inactive")
    reason = channel_disabled_reason(channel=notification.notification_type, preferences=profile.preferences)
    if reason:
        return _Outcome(notification, NotificationStatus.SKIPPED, reason)
    return None


def _render_failed(notification: Notification, exc: Exception) -> _Outcome:
    """A render that fails for any reason ends the notification (the template and variables stay the
    same, so a retry cannot help), with an attempt row so its timeline says why nothing was sent."""
    reason = exc.message if isinstance(exc, ApplicationError) else f"{exc.__class__.__name__}: {exc}"
    if not isinstance(exc, ApplicationError):
        logger.exception("rendering failed unexpectedly", extra={"notification_id": str(notification.id)})
    return _Outcome(
        notification,
        NotificationStatus.FAILED,
        f"render error: {reason}",
        attempt=_Attempt(AttemptOutcome.PERMANENT_ERROR, timezone.now(), error=exc),
        attempts_delta=1,
    )


def _prepare(
    claimed: list[Notification], channel: str, *, poison: bool, outcomes: list[_Outcome]
) -> list[_Plan]:
    """What to send for each claimed notification; the rest get their outcome (skip, fail) in `outcomes`."""
    profiles = user_profiles_get(user_ids=[n.user_id for n in claimed])
    user_ids = [n.user_id for n in claimed]
    devices = devices_active_for_users(user_ids=user_ids) if channel == Channel.PUSH else {}
    versions: dict[tuple[str, str], TemplateVersion] = {}
    plans: list[_Plan] = []
    for notification in claimed:
        profile = profiles.get(notification.user_id)
        refusal = _refusal(notification, profile, poison=poison)
        if refusal is not None:
            outcomes.append(refusal)
            continue
        assert profile is not None
        try:
            key = (notification.template_code, notification.language)
            if key not in versions:
                versions[key] = template_version_resolve(
                    code=notification.template_code,
                    notification_type=channel,
                    language=notification.language or None,
                )
            rendered = template_render(version=versions[key], variables=notification.variables)
        except Exception as exc:  # noqa: BLE001 - any render failure is this notification's end; recorded
            outcomes.append(_render_failed(notification, exc))
            continue
        plan = _Plan(notification, rendered)
        if channel == Channel.EMAIL:
            plan.email = OutgoingEmail(
                notification_id=str(notification.id),
                correlation_id=notification.correlation_id,
                to=profile.email,
                subject=rendered.subject,
                body=rendered.body,
                html_body=rendered.html_body,
            )
        else:
            plan.pushes = _push_messages(notification, rendered, devices.get(notification.user_id, []))
            if not plan.pushes:
                if notification.delivered_device_ids:  # every device was reached before
                    outcomes.append(_Outcome(notification, NotificationStatus.SENT))
                else:
                    outcomes.append(_Outcome(notification, NotificationStatus.SKIPPED, NO_PUSH_DEVICE))
                continue
        plans.append(plan)
    return plans


def _push_messages(
    notification: Notification, rendered: RenderedTemplate, devices: list[Any]
) -> list[OutgoingPush]:
    already = set(notification.delivered_device_ids)
    # FCM data values are strings: objects and lists travel as JSON text, null as "", booleans as true/false.
    data = {str(key): value_as_text(value) for key, value in notification.metadata.items()}
    return [
        OutgoingPush(
            notification_id=str(notification.id),
            correlation_id=notification.correlation_id,
            device_id=device.id,
            token=device.token,
            platform=device.platform,
            title=rendered.subject,
            body=rendered.body,
            image_url=rendered.image_url,
            link=rendered.link,
            data=data,
            subscription=device.subscription,
        )
        for device in devices
        if device.id not in already
    ]


# --- outcomes -----------------------------------------------------------------------------------------


def _transient(plan: _Plan, exc: Exception, attempt: _Attempt) -> _Outcome:
    notification = plan.notification
    reason = exc.reason if isinstance(exc, DeliveryError) else f"{exc.__class__.__name__}: {exc}"
    failures = notification.transient_failures + 1
    if failures > settings.DELIVERY_MAX_RETRIES:
        return _Outcome(
            notification,
            NotificationStatus.FAILED,
            f"retries exhausted after {failures} transient failures; last: {reason}",
            transient_failures=failures,
            attempt=attempt,
        )
    retry_after = exc.retry_after if isinstance(exc, TransientDeliveryError) else None
    return _Outcome(
        notification,
        NotificationStatus.QUEUED,
        f"retrying: {reason}",
        due=due_in(retry_countdown(failures=failures, retry_after=retry_after)),
        transient_failures=failures,
        attempt=attempt,
    )


def _deferred_by_breaker(
    plan: _Plan, slots: list[ProviderSlot], *, tripped: bool, attempt: _Attempt | None = None
) -> _Outcome:
    """The providers are down, which is not this notification's fault: deferred without spending its
    retry budget, until the first breaker among `slots` lets a trial call through."""
    verb = "opened" if tripped else "is open"
    open_for = min(
        breaker_open_remaining(slot.breaker_name) or float(settings.BREAKER_RESET_SECONDS) for slot in slots
    )
    channel = slots[0].channel
    if len(slots) == 1:
        reason = f"deferred: the {channel} provider {slots[0].name}'s circuit breaker {verb}"
    else:
        names = ", ".join(slot.name for slot in slots)
        reason = f"deferred: every {channel} provider's circuit breaker is open ({names})"
    return _Outcome(
        plan.notification,
        NotificationStatus.QUEUED,
        reason,
        due=due_in(breaker_countdown(open_for=open_for)),
        attempt=attempt,
    )


def _failed_permanently(plan: _Plan, exc: PermanentDeliveryError, attempt: _Attempt) -> _Outcome:
    return _Outcome(plan.notification, NotificationStatus.FAILED, f"permanent: {exc.reason}", attempt=attempt)


# --- send ---------------------------------------------------------------------------------------------


def _call_failed(plan: _Plan, slot: ProviderSlot, exc: Exception, started: datetime) -> _Outcome:
    """The outcome of a provider call that raised: permanent, the breaker, or transient."""
    provider_error(
        channel=plan.notification.notification_type, provider=slot.name, error_class=type(exc).__name__
    )
    permanent = isinstance(exc, PermanentDeliveryError)
    attempt = _Attempt(
        AttemptOutcome.PERMANENT_ERROR if permanent else AttemptOutcome.TRANSIENT_ERROR,
        started,
        error=exc,
        template_version=plan.rendered.version,
        provider=slot.name,
    )
    if isinstance(exc, PermanentDeliveryError):
        return _failed_permanently(plan, exc, attempt)
    if isinstance(exc, pybreaker.CircuitBreakerError):
        # The call tripped the breaker (or met it open): it waits for the provider, budget untouched.
        return _deferred_by_breaker(plan, [slot], tripped=True, attempt=attempt)
    return _transient(plan, exc, attempt)


# --- failover -----------------------------------------------------------------------------------------


def _fails_over(exc: BaseException) -> bool:
    """Whether a failed call may be made again on the channel's next provider at once: the provider is in
    trouble (not the recipient), and it surely does not have the message. A breaker met open did not call
    the provider at all; one that opened on this call did, and its cause decides."""
    if isinstance(exc, pybreaker.CircuitBreakerError):
        if exc.__context__ is None:
            return True
        exc = exc.__context__
    return (
        isinstance(exc, TransientDeliveryError)
        and not isinstance(exc, RecipientDeferredError)
        and not exc.ambiguous
    )


def _record_failover(
    plans: list[_Plan], slot: ProviderSlot, exc: BaseException, *, started: datetime, worker: str
) -> None:
    """The failed call on `slot` as an attempt of each notification, before the next provider is called
    (one statement): its attempt count grows by one, its retry budget does not."""
    provider_error(channel=slot.channel, provider=slot.name, error_class=type(exc).__name__)
    cause = exc.__context__ if isinstance(exc, pybreaker.CircuitBreakerError) else exc
    if cause is None:
        return  # the breaker was open: the provider was not called
    ids = [plan.notification.id for plan in plans]
    _durably(
        functools.partial(
            _insert_failover_attempts, ids, slot=slot, exc=cause, started=started, worker=worker
        )
    )
    for plan in plans:
        plan.notification.attempts += 1
    logger.warning(
        "provider failed; trying the next one",
        extra={"provider": slot.name, "notifications": len(ids), "error": str(cause)[:200]},
    )


def _insert_failover_attempts(
    ids: list[Any], *, slot: ProviderSlot, exc: BaseException, started: datetime, worker: str
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH attempt AS (
                INSERT INTO {DeliveryAttempt._meta.db_table}
                    (notification_id, number, worker, outcome, error_class, error_message, provider,
                     provider_message_id, template_version, started_at, finished_at)
                SELECT id, attempts, %s, %s, %s, %s, %s, '', NULL, %s, now()
                  FROM {Notification._meta.db_table} WHERE id = ANY(%s::uuid[])
            )
            UPDATE {Notification._meta.db_table} SET attempts = attempts + 1, updated_at = now()
             WHERE id = ANY(%s::uuid[])
            """,  # noqa: S608 - table names come from the models, values are parameters
            [
                worker[:255], AttemptOutcome.TRANSIENT_ERROR, type(exc).__name__,
                f"failed over to the next provider: {exc}"[:4000], slot.name, started, ids, ids,
            ],
        )  # fmt: skip


_TRANSIENT = (TimeoutError, TransientDeliveryError, SoftTimeLimitExceeded)


def _record_sent(
    notification: Notification,
    *,
    worker: str,
    started_at: datetime,
    provider: str,
    provider_id: str,
    version: int,
) -> None:
    """The attempt and the sent status in one statement (one round trip, one transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH attempt AS (
                INSERT INTO {DeliveryAttempt._meta.db_table}
                    (notification_id, number, worker, outcome, error_class, error_message,
                     provider, provider_message_id, template_version, started_at, finished_at)
                SELECT id, attempts, %s, %s, '', '', %s, %s, %s, %s, now()
                  FROM {Notification._meta.db_table} WHERE id = %s
            )
            UPDATE {Notification._meta.db_table}
               SET status = %s, error = '', sent_at = now(), updated_at = now(),
                   provider_message_id = %s, template_version = %s
             WHERE id = %s
            """,  # noqa: S608 - table names come from the models, values are parameters
            [
                worker[:255], AttemptOutcome.SENT, provider[:64], provider_id[:255], version, started_at,
                notification.id,
                NotificationStatus.SENT, provider_id[:255], version, notification.id,
            ],
        )  # fmt: skip


def _next_result(results: Iterator[SendResult]) -> str:
    """Sends the next message (the provider sends when asked for its result); its error is raised, so
    the breaker around this call counts what says something about the provider's health."""
    result = next(results)
    if result.error is not None:
        raise result.error
    return result.message_id


def _send_emails(
    plans: list[_Plan],
    slots: list[ProviderSlot],
    *,
    worker: str,
    outcomes: list[_Outcome],
    report: BatchReport,
) -> None:
    """Sends on the first provider; what it fails to take (from the message it failed on) goes to the
    next one at once, and so on down the list."""
    remaining = plans
    for position, slot in enumerate(slots):
        remaining = _send_emails_on(
            remaining,
            slot,
            fallback=position < len(slots) - 1,
            worker=worker,
            outcomes=outcomes,
            report=report,
        )
        if not remaining:
            return


def _call_directly(function: Callable[..., T], *args: Any) -> T:
    return function(*args)


def _window_end(index: int, window: int) -> int:
    """Where the provider's window of messages sent at once, the one holding `index`, ends."""
    return (index // window + 1) * window


def _send_emails_on(
    plans: list[_Plan],
    slot: ProviderSlot,
    *,
    fallback: bool,
    worker: str,
    outcomes: list[_Outcome],
    report: BatchReport,
) -> list[_Plan]:
    """Sends the plans on one provider; answers those to hand to the next provider (`fallback`: there is
    one): the message the provider failed on, the others of its window that failed alike, and the rest.

    A provider with several connections sends a window of messages at once (its `in_flight`); once one
    of them fails, the others are already on their way, so their results are taken as they come (past the
    breaker: whatever it says now, they were sent), and only then does the batch stop on this provider.
    """
    breaker = breaker_get(slot.breaker_name)
    window = max(int(getattr(slot.provider, "in_flight", 1)), 1)
    results = iter(slot.provider.send([plan.email for plan in plans if plan.email is not None]))
    carry: list[_Plan] = []
    stop_at, stopped_by = len(plans), None
    for index, plan in enumerate(plans):
        if index >= stop_at:
            break
        notification = plan.notification
        correlation_id_set(notification.correlation_id or None)
        started = timezone.now()
        try:
            # Within a window already on its way, the breaker is not asked: those messages were sent.
            gate = breaker.call if stopped_by is None else _call_directly
            provider_id = gate(_next_result, results)
        except (PermanentDeliveryError, pybreaker.CircuitBreakerError, *_TRANSIENT) as exc:
            if fallback and _fails_over(exc):
                _record_failover([plan], slot, exc, started=started, worker=worker)
                carry.append(plan)
                stopped_by = stopped_by or exc
                stop_at = min(stop_at, _window_end(index, window))
                continue
            outcomes.append(_call_failed(plan, slot, exc, started))
            if not isinstance(exc, PermanentDeliveryError | TimeoutError | TransientDeliveryError):
                # The breaker opened, or the batch ran out of time.
                stopped_by = stopped_by or exc
                stop_at = min(stop_at, _window_end(index, window))
            continue
        version = plan.rendered.version
        _durably(
            functools.partial(
                _record_sent,
                notification,
                worker=worker,
                started_at=started,
                provider=slot.name,
                provider_id=provider_id,
                version=version,
            )
        )
        report.sent += 1
        provider_sent(channel=Channel.EMAIL, provider=slot.name)
        delivery_finished(
            channel=Channel.EMAIL, status=NotificationStatus.SENT, latency_seconds=_latency(notification)
        )
        logger.info(
            "notification sent",
            extra={
                "notification_id": str(notification.id),
                "channel": Channel.EMAIL.value,
                "provider": slot.name,
            },
        )
    rest = plans[stop_at:]
    if stopped_by is None or (fallback and _fails_over(stopped_by)):
        return carry + rest
    # The breaker opened, or the batch ran out of time: the rest go back into the outbox without having
    # reached the provider (the breaker's reset decides when; out of time: at once).
    for plan in rest:
        if isinstance(stopped_by, pybreaker.CircuitBreakerError):
            deferred = _deferred_by_breaker(plan, [slot], tripped=False)
        else:
            deferred = _Outcome(
                plan.notification, NotificationStatus.QUEUED, "deferred: the batch ran out of time",
                due=timezone.now(),
            )  # fmt: skip
        deferred.attempts_delta = -1
        outcomes.append(deferred)
    return carry


def _send_push_all(slot: ProviderSlot, messages: list[OutgoingPush]) -> list[SendResult]:
    results = list(slot.provider.send(messages))
    transient = [r.error for r in results if isinstance(r.error, TransientDeliveryError)]
    if results and len(transient) == len(results):
        # Every device failed for a reason that may recover: FCM itself is in trouble; the breaker counts it.
        first = transient[0]
        raise TransientDeliveryError(f"all devices failed: {first}", retry_after=first.retry_after)
    return results


def _send_pushes(
    plans: list[_Plan], slots: list[ProviderSlot], *, worker: str, outcomes: list[_Outcome]
) -> list[str]:
    """Every device's push through the first provider that delivers its kind (an FCM token, a browser's
    Web Push subscription), each kind in one provider call (the provider chunks it), failing over to the
    next provider of that kind; returns the tokens the providers say are gone.

    A batch of one kind (the usual case) is one call whose failure ends each notification as a failed
    call does (retry, breaker deferral, dead letter). In a batch of both kinds, a kind whose call failed
    counts as that error for each of its devices, so a notification with a device of each kind is sent
    where it could be and retried for the rest."""
    messages = [push for plan in plans for push in plan.pushes]
    kinds = list(dict.fromkeys(push.kind for push in messages))
    if len(kinds) == 1:
        kind_slots = [slot for slot in slots if kinds[0] in slot.device_kinds]
        if not kind_slots:
            outcomes.extend(_no_provider(plan, kinds[0], slots) for plan in plans)
            return []
        started = timezone.now()
        call = _push_on_first(plans, messages, kind_slots, worker=worker)
        if call.error is not None:
            outcomes.extend(_call_failed(plan, call.slot, call.error, started) for plan in plans)
            return []
        names = [call.slot.name] * len(messages)
        return _push_outcomes(plans, messages, call.results, names, started=started, outcomes=outcomes)
    started = timezone.now()
    by_message: dict[int, tuple[SendResult, str]] = {}
    for kind in kinds:
        indexes = [i for i, push in enumerate(messages) if push.kind == kind]
        group = [messages[i] for i in indexes]
        group_plans = [plan for plan in plans if any(push.kind == kind for push in plan.pushes)]
        kind_slots = [slot for slot in slots if kind in slot.device_kinds]
        if not kind_slots:
            configured = [slot for slot in providers_for(Channel.PUSH) if kind in slot.device_kinds]
            error: DeliveryError = (
                TransientDeliveryError(
                    f"every {kind} provider's circuit breaker is open",
                    retry_after=min(breaker_open_remaining(slot.breaker_name) for slot in configured),
                )
                if configured
                else PermanentDeliveryError(f"no push provider delivers {kind} devices (PUSH_PROVIDERS)")
            )
            by_message.update({i: (SendResult(error=error), "") for i in indexes})
            continue
        call = _push_on_first(group_plans, group, kind_slots, worker=worker)
        if call.error is not None:
            exc = call.error
            error = (
                exc
                if isinstance(exc, DeliveryError)
                else TransientDeliveryError(f"{type(exc).__name__}: {exc}")
            )
            # Counted once here: _push_outcomes counts only what a provider answered.
            provider_error(channel=Channel.PUSH, provider=call.slot.name, error_class=type(exc).__name__)
            by_message.update({i: (SendResult(error=error), "") for i in indexes})
            continue
        by_message.update(
            {i: (result, call.slot.name) for i, result in zip(indexes, call.results, strict=True)}
        )
    ordered = [by_message[i] for i in range(len(messages))]
    return _push_outcomes(
        plans,
        messages,
        [r for r, _ in ordered],
        [name for _, name in ordered],
        started=started,
        outcomes=outcomes,
    )


def _no_provider(plan: _Plan, kind: str, slots: list[ProviderSlot]) -> _Outcome:
    """No provider of the list delivers this kind now: its breakers are open (deferred), or none is
    configured (failed, to the dead letters: replay once PUSH_PROVIDERS names one)."""
    configured = [slot for slot in providers_for(Channel.PUSH) if kind in slot.device_kinds]
    if configured:
        return _deferred_by_breaker(plan, configured, tripped=False)
    reason = f"permanent: no push provider delivers {kind} devices (PUSH_PROVIDERS)"
    return _Outcome(plan.notification, NotificationStatus.FAILED, reason)


@dataclass
class _PushCall:
    """A provider call for pushes of one kind: the provider's results, or the error of the last tried."""

    slot: ProviderSlot
    results: list[SendResult] = field(default_factory=list)
    error: Exception | None = None


def _push_on_first(
    plans: list[_Plan], messages: list[OutgoingPush], slots: list[ProviderSlot], *, worker: str
) -> _PushCall:
    """The messages on the first provider that takes them, failing over where the error allows."""
    for position, slot in enumerate(slots):
        started = timezone.now()
        try:
            return _PushCall(
                slot, results=breaker_get(slot.breaker_name).call(_send_push_all, slot, messages)
            )
        except (PermanentDeliveryError, pybreaker.CircuitBreakerError, *_TRANSIENT) as exc:
            if position < len(slots) - 1 and _fails_over(exc):
                _record_failover(plans, slot, exc, started=started, worker=worker)
                continue
            return _PushCall(slot, error=exc)
    raise AssertionError("no provider slot given")


def _push_outcomes(
    plans: list[_Plan],
    messages: list[OutgoingPush],
    results: list[SendResult],
    providers: list[str],
    *,
    started: datetime,
    outcomes: list[_Outcome],
) -> list[str]:
    """Each notification's outcome from its devices' results (and the provider each went to); returns the
    tokens that are gone."""
    by_device = {
        (r_push.notification_id, r_push.device_id): (result, provider)
        for r_push, result, provider in zip(messages, results, providers, strict=True)
    }
    gone: list[str] = []
    for plan in plans:
        answered = [(push, *by_device[(push.notification_id, push.device_id)]) for push in plan.pushes]
        mine = [(push, result) for push, result, _ in answered]
        names = sorted({provider for _, _, provider in answered if provider})
        for push, result, provider in answered:
            if result.error is not None and provider:
                provider_error(
                    channel=Channel.PUSH, provider=provider, error_class=type(result.error).__name__
                )
            if result.token_invalid:
                gone.append(push.token)
        delivered = [result for _, result in mine if result.error is None]
        reached = [push.device_id for push, result in mine if result.error is None]
        delivered_ids = list(dict.fromkeys([*plan.notification.delivered_device_ids, *reached]))
        provider_id = next((r.message_id for r in delivered), plan.notification.provider_message_id)
        first_error = next((r.error for _, r in mine if r.error is not None), None)
        transient = next((r.error for _, r in mine if isinstance(r.error, TransientDeliveryError)), None)
        version = plan.rendered.version
        if transient is not None:
            attempt = _Attempt(
                AttemptOutcome.TRANSIENT_ERROR,
                started,
                error=first_error,
                provider_message_id=provider_id,
                template_version=version,
            )
            outcome = _transient(plan, transient, attempt)
        elif delivered_ids:
            attempt = _Attempt(
                AttemptOutcome.SENT,
                started,
                error=first_error,
                provider_message_id=provider_id,
                template_version=version,
            )
            outcome = _Outcome(plan.notification, NotificationStatus.SENT, attempt=attempt)
            for name in names:
                provider_sent(channel=Channel.PUSH, provider=name)
        else:
            attempt = _Attempt(
                AttemptOutcome.PERMANENT_ERROR, started, error=first_error, template_version=version
            )
            outcome = _Outcome(
                plan.notification,
                NotificationStatus.FAILED,
                f"permanent: no device accepted the push; {first_error}",
                attempt=attempt,
            )
        attempt.provider = "+".join(names)
        outcome.delivered_device_ids, outcome.provider_message_id, outcome.template_version = (
            delivered_ids,
            provider_id,
            version,
        )
        outcomes.append(outcome)
    return gone


# --- record -------------------------------------------------------------------------------------------


def _record(outcomes: list[_Outcome], *, busy: list[str], worker: str, gone_tokens: list[str]) -> None:
    """Every outcome of the batch in one transaction: one UPDATE for the statuses, one multi-row INSERT
    of attempts, one INSERT of the outbox entries that are due again. Safe to run twice."""
    now = timezone.now()
    with transaction.atomic():
        if gone_tokens:
            devices_deactivate(tokens=gone_tokens, reason="the provider says the token is gone")
        if outcomes:
            rows = [
                (
                    o.notification.id, str(o.status), o.error, o.transient_failures, o.attempts_delta,
                    o.provider_message_id[:255], o.template_version,
                    None if o.delivered_device_ids is None else o.delivered_device_ids,
                )
                for o in outcomes
            ]  # fmt: skip
            columns = list(zip(*rows, strict=True))
            table = Notification._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""
                    UPDATE {table} n SET
                        status = u.status,
                        error = u.error,
                        transient_failures = COALESCE(u.transient_failures, n.transient_failures),
                        attempts = n.attempts + u.bump,
                        sent_at = CASE WHEN u.status = %s THEN now() ELSE n.sent_at END,
                        failed_at = CASE WHEN u.status = %s THEN now() ELSE n.failed_at END,
                        provider_message_id =
                            COALESCE(NULLIF(u.provider_message_id, ''), n.provider_message_id),
                        template_version = COALESCE(u.template_version, n.template_version),
                        delivered_device_ids = COALESCE(u.delivered::jsonb, n.delivered_device_ids),
                        updated_at = now()
                    FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::int[], %s::int[], %s::text[],
                                %s::int[], %s::text[])
                         AS u(id, status, error, transient_failures, bump, provider_message_id,
                              template_version, delivered)
                    WHERE n.id = u.id
                    """,  # noqa: S608 - the table name comes from the model, values are parameters
                    [
                        NotificationStatus.SENT, NotificationStatus.FAILED,
                        *(list(column) for column in columns[:7]),
                        [None if d is None else json_list(d) for d in columns[7]],
                    ],
                )  # fmt: skip
            DeliveryAttempt.objects.bulk_create(
                [
                    DeliveryAttempt(
                        notification_id=o.notification.id,
                        # The claim read `attempts` before this batch counted its call (or render).
                        number=o.notification.attempts + 1,
                        worker=worker[:255],
                        outcome=o.attempt.outcome,
                        error_class=o.attempt.error.__class__.__name__ if o.attempt.error else "",
                        error_message=str(o.attempt.error)[:4000] if o.attempt.error else "",
                        provider=o.attempt.provider[:64],
                        provider_message_id=o.attempt.provider_message_id[:255],
                        template_version=o.attempt.template_version,
                        started_at=o.attempt.started_at,
                        finished_at=now,
                    )
                    for o in outcomes
                    if o.attempt is not None
                ]
            )
        due = {str(o.notification.id): o.due for o in outcomes if o.due is not None}
        due.update({notification_id: due_in(BUSY_RETRY_SECONDS) for notification_id in busy})
        outbox_defer(due=due)


def json_list(values: list[int]) -> str:
    return "[" + ",".join(str(int(v)) for v in values) + "]"


def _latency(notification: Notification) -> float:
    """From when it was due: a scheduled notification's wait for its send_at is not latency."""
    return (timezone.now() - (notification.send_at or notification.created_at)).total_seconds()


# --- the batch ----------------------------------------------------------------------------------------


def delivery_batch_send(
    *, notification_ids: list[str], channel: str, worker: str, poison: bool = False
) -> BatchReport:
    """Delivers a batch once. `poison` (a single notification whose message already killed its worker
    BROKER_DELIVERY_LIMIT times) ends it `failed` instead of trying again.

    Raises OperationalError/InterfaceError when the database is unreachable before anything was sent or
    after recording failed RECORD_ATTEMPTS times: the caller hands the batch back (the claim makes that safe).
    """
    _async_commit()
    slots = providers_for(channel)
    claim = batch_claim(notification_ids=notification_ids, channel=channel)
    report = BatchReport(already_done=len(claim.done), deferred=len(claim.busy))
    outcomes: list[_Outcome] = []
    gone: list[str] = []
    try:
        plans = _prepare(claim.claimed, channel, poison=poison, outcomes=outcomes)
        # The providers that may be called now, in order: those whose breaker is closed or lets a trial
        # call through.
        usable = [slot for slot in slots if breaker_open_remaining(slot.breaker_name) <= 0] if plans else []
        if plans and not usable:
            outcomes.extend(_deferred_by_breaker(plan, slots, tripped=False) for plan in plans)
            plans = []
        mark_sending(notification_ids=[str(plan.notification.id) for plan in plans], worker=worker)
        if plans and channel == Channel.EMAIL:
            _send_emails(plans, usable, worker=worker, outcomes=outcomes, report=report)
        elif plans:
            gone = _send_pushes(plans, usable, worker=worker, outcomes=outcomes)
        _durably(lambda: _record(outcomes, busy=claim.busy, worker=worker, gone_tokens=gone))
    finally:
        batch_release()
    for outcome in outcomes:
        notification = outcome.notification
        if outcome.status in END_STATUSES:
            delivery_finished(
                channel=channel,
                status=str(outcome.status),
                latency_seconds=_latency(notification) if outcome.status == NotificationStatus.SENT else None,
            )
        if outcome.status == NotificationStatus.SENT:
            report.sent += 1
        elif outcome.status == NotificationStatus.SKIPPED:
            report.skipped += 1
        elif outcome.status == NotificationStatus.FAILED:
            report.failed.append(Failure(str(notification.id), outcome.error, notification.correlation_id))
            correlation_id_set(notification.correlation_id or None)
            logger.warning(
                "delivery failed", extra={"notification_id": str(notification.id), "reason": outcome.error}
            )
        else:
            report.deferred += 1
    return report
