"""The database writes a status webhook event for each endpoint that wants it, in the same transaction as
the status change it reports: every path that changes a status (a worker's batch, a cancel, a provider's
delivery report, the admin) reports it, and a rolled-back change reports nothing."""

from django.db import migrations

NOTIFICATION_END_STATUSES = "('sent', 'delivered', 'failed', 'skipped', 'cancelled', 'expired')"

FORWARD = f"""
CREATE OR REPLACE FUNCTION notifier_iso(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE OR REPLACE FUNCTION notifier_notification_webhook_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text := 'notification.' || NEW.status;
BEGIN
    INSERT INTO notifications_webhookevent
        (endpoint_id, event_type, notification_id, broadcast_id, payload, state, attempts, last_error,
         created_at, available_at)
    SELECT e.id, kind, NEW.id, NEW.broadcast_id,
           jsonb_build_object(
               'type', kind,
               'timestamp', notifier_iso(now()),
               'data', jsonb_build_object(
                   'notification_id', NEW.id,
                   'status', NEW.status,
                   'reason', NEW.error,
                   'channel', NEW.notification_type,
                   'template_code', NEW.template_code,
                   'lane', NEW.lane,
                   'user_id', NEW.user_id,
                   'request_id', NEW.request_id,
                   'metadata', NEW.metadata,
                   'attempts', NEW.attempts,
                   'broadcast_id', NEW.broadcast_id,
                   'created_at', notifier_iso(NEW.created_at),
                   'send_at', notifier_iso(NEW.send_at),
                   'sent_at', notifier_iso(NEW.sent_at),
                   'delivered_at', notifier_iso(NEW.delivered_at),
                   'failed_at', notifier_iso(NEW.failed_at),
                   'cancelled_at', notifier_iso(NEW.cancelled_at),
                   'expires_at', notifier_iso(NEW.expires_at)
               )
           ),
           'pending', 0, '', now(), now()
      FROM notifications_webhookendpoint e
     WHERE e.is_active AND kind = ANY(e.events);
    RETURN NULL;
END
$$;

CREATE TRIGGER notification_status_webhooks
    AFTER UPDATE OF status ON notifications_notification
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN {NOTIFICATION_END_STATUSES})
    EXECUTE FUNCTION notifier_notification_webhook_events();

CREATE TRIGGER notification_accepted_webhooks
    AFTER INSERT ON notifications_notification
    FOR EACH ROW
    WHEN (NEW.status IN {NOTIFICATION_END_STATUSES})
    EXECUTE FUNCTION notifier_notification_webhook_events();

CREATE OR REPLACE FUNCTION notifier_broadcast_webhook_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notifications_webhookevent
        (endpoint_id, event_type, notification_id, broadcast_id, payload, state, attempts, last_error,
         created_at, available_at)
    SELECT e.id, 'broadcast.completed', NULL, NEW.id,
           jsonb_build_object(
               'type', 'broadcast.completed',
               'timestamp', notifier_iso(now()),
               'data', jsonb_build_object(
                   'broadcast_id', NEW.id,
                   'status', NEW.status,
                   'topic', NULLIF(NEW.topic_key, ''),
                   'channel', NEW.notification_type,
                   'template_code', NEW.template_code,
                   'request_id', NEW.request_id,
                   'metadata', NEW.metadata,
                   'recipients', NEW.recipients,
                   'notifications_created', NEW.notifications_created,
                   'created_at', notifier_iso(NEW.created_at),
                   'completed_at', notifier_iso(NEW.completed_at)
               )
           ),
           'pending', 0, '', now(), now()
      FROM notifications_webhookendpoint e
     WHERE e.is_active AND 'broadcast.completed' = ANY(e.events);
    RETURN NULL;
END
$$;

CREATE TRIGGER broadcast_completed_webhooks
    AFTER UPDATE OF status ON notifications_broadcast
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status = 'complete')
    EXECUTE FUNCTION notifier_broadcast_webhook_events();

CREATE TRIGGER broadcast_accepted_webhooks
    AFTER INSERT ON notifications_broadcast
    FOR EACH ROW
    WHEN (NEW.status = 'complete')
    EXECUTE FUNCTION notifier_broadcast_webhook_events();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS broadcast_accepted_webhooks ON notifications_broadcast;
DROP TRIGGER IF EXISTS broadcast_completed_webhooks ON notifications_broadcast;
DROP TRIGGER IF EXISTS notification_accepted_webhooks ON notifications_notification;
DROP TRIGGER IF EXISTS notification_status_webhooks ON notifications_notification;
DROP FUNCTION IF EXISTS notifier_broadcast_webhook_events();
DROP FUNCTION IF EXISTS notifier_notification_webhook_events();
DROP FUNCTION IF EXISTS notifier_iso(timestamptz);
"""


class Migration(migrations.Migration):
    dependencies = [("notifications", "0008_webhooks")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
