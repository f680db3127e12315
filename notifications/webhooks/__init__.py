"""Status webhooks: signed events to the caller's endpoints when a notification ends (sent, delivered,
failed, skipped, cancelled, expired) or a broadcast's fan-out completes.

    status change --(same transaction: a trigger, migration 0009)--> webhook event, one per endpoint
    relay --due events of active endpoints, per endpoint--> webhook.queue --> webhook worker
    webhook worker: lease the events --> POST each (Standard Webhooks signature) --> record attempts

- Durable and at least once: PostgreSQL holds every event until its endpoint answered 2xx. A worker leases
  the events of a message; one that dies leaves them leased, and the relay publishes them again once the
  lease ran out. A repeated event keeps its `webhook-id`, so a receiver can drop repeats.
- In order per notification and endpoint: an event is not sent while an earlier one of the same
  notification is still pending for the endpoint, and the rest of a message waits behind a failure.
- Retried with exponential backoff and jitter for WEBHOOK_RETRY_WINDOW_SECONDS; 410 disables the endpoint;
  an endpoint failing for WEBHOOK_DISABLE_AFTER_SECONDS is disabled with the reason.
- Outbound requests go through notifier.outbound: https only, no private addresses, no redirects, small
  reads, timeouts.
"""
