"""The status lifecycle of a notification, named in one place.

    pending --relay--> queued --claim--> sending --provider accepts--> sent --confirmed--> delivered
       |                 ^                  |                            \\--bounced--> failed
       |                 +-- retry, defer --+ (back through the outbox, due after its backoff)
       +--> skipped (channel disabled, no device, user gone)   sending --permanent/exhausted--> failed

A worker claims only CLAIMABLE_STATUSES; a notification in FINAL_STATUSES is never sent again; `failed`
is final for workers too, and only a replay (or the admin's retry) moves it back to `pending`.
"""

from notifications.models import FINAL_STATUSES, NotificationStatus

# What a worker may claim: waiting, or `sending` with no live claim (its worker died mid-send).
CLAIMABLE_STATUSES = frozenset(
    {NotificationStatus.PENDING, NotificationStatus.QUEUED, NotificationStatus.SENDING}
)
# The end of a delivery, for metrics (delivered comes later, from the provider).
END_STATUSES = frozenset({NotificationStatus.SENT, NotificationStatus.FAILED, NotificationStatus.SKIPPED})

__all__ = ["CLAIMABLE_STATUSES", "END_STATUSES", "FINAL_STATUSES"]
