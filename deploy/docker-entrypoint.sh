#!/bin/sh
# The image's entrypoint: the first argument picks the role, one per Procfile process
# (api = web, email-worker = email_worker, email-urgent-worker = email_urgent_worker, push-worker =
# push_worker, push-urgent-worker = push_urgent_worker, webhook-worker = webhook_worker, relay = relay,
# scheduler = scheduler, flower = flower), plus `migrate`,
# the one-shot that prepares the database and the broker. Anything else runs as given
# (`docker compose run --rm api python manage.py dlq list`). Each role replaces this shell (exec), so
# it receives SIGTERM itself and stops gracefully.
set -eu

role="${1:-api}"
case "$role" in
    api)
        exec gunicorn notifier.wsgi --config python:notifier.gunicorn_conf
        ;;
    email-worker)
        exec python manage.py run_worker email
        ;;
    email-urgent-worker)
        exec python manage.py run_worker email --urgent
        ;;
    push-worker)
        exec python manage.py run_worker push
        ;;
    push-urgent-worker)
        exec python manage.py run_worker push --urgent
        ;;
    webhook-worker)
        exec python manage.py run_worker webhook
        ;;
    scheduler)
        exec python manage.py run_scheduler
        ;;
    relay)
        exec python manage.py outbox_relay
        ;;
    flower)
        exec python manage.py run_flower
        ;;
    migrate)
        # Both steps are idempotent: run on every deploy, before the other roles start.
        python manage.py migrate --noinput
        exec python manage.py setup_broker
        ;;
    *)
        exec "$@"
        ;;
esac
