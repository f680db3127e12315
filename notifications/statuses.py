"""The status lifecycle of a notification, named in one place (the README links here).

    scheduled --send_at--+
                         v
    pending --relay--> queued --claim--> sending --provider accepts--> sent --confirmed--> delivered
       |                 ^                  |                            \\--bounced--> failed
       |                 +-- retry, defer --+ (back through the outbox, due after its backoff)
       +--> skipped (channel disabled, no device, user gone)   sending --permanent/exhausted--> failed

    scheduled, pending, queued, sending (no live claim) --cancel--> cancelled
    scheduled, pending, queued, sending --its expiry passed before a provider had it--> expired

- `scheduled`: accepted with a `send_at` ahead; its outbox entry is due then, and the relay publishes it.
- `cancelled` and `expired` are final, with who cancelled and when, or the expiry, on the notification.
  A worker that meets one does nothing.
- `failed` is final for workers too; only a replay (or the admin's retry) moves it back to `pending`.
- A notification is cancellable until a worker holds its claim: from then on a provider may have it.

A worker claims only CLAIMABLE_STATUSES (a scheduled one only once its send_at has come); a notification
in FINAL_STATUSES is never sent again.
"""

from notifications.models import FINAL_STATUSES, NotificationStatus

# What a worker may claim: waiting, or `sending` with no live claim (its worker died mid-send).
CLAIMABLE_STATUSES = frozenset(
    {
        NotificationStatus.SCHEDULED,
        NotificationStatus.PENDING,
        NotificationStatus.QUEUED,
        NotificationStatus.SENDING,
    }
)
# Due and not finished: what "the oldest unfinished" and stall alerts look at (scheduled ones wait by design).
IN_FLIGHT_STATUSES = CLAIMABLE_STATUSES - {NotificationStatus.SCHEDULED}
# What a cancel may end: everything a worker could still claim (the claim itself is checked too).
CANCELLABLE_STATUSES = CLAIMABLE_STATUSES
# Waiting for the relay: the statuses an outbox entry is published for.
PUBLISHABLE_STATUSES = CLAIMABLE_STATUSES
# The end of a delivery, for metrics (delivered comes later, from the provider).
END_STATUSES = frozenset(
    {
        NotificationStatus.SENT,
        NotificationStatus.FAILED,
        NotificationStatus.SKIPPED,
        NotificationStatus.EXPIRED,
    }
)

__all__ = [
    "CANCELLABLE_STATUSES",
    "CLAIMABLE_STATUSES",
    "END_STATUSES",
    "FINAL_STATUSES",
    "IN_FLIGHT_STATUSES",
    "PUBLISHABLE_STATUSES",
]
