# notifier: every target says what it does. `make help` lists them.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DJANGO_SETTINGS_MODULE := notifier.settings
export PYTHONUNBUFFERED := 1

.PHONY: compose-tools help install secrets run test lint format migrate seed browser bench chaos cluster-test test-tools load-tools dlq-list dlq-replay credentials

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install the pinned requirements (idempotent)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

secrets: install ## write fresh random DJANGO_SECRET_KEY, JWT_SECRET and a VAPID key pair into .env unless it has them (kept after)
	@python3 scripts/ensure_secrets.py
	@$(PY) scripts/ensure_vapid_keys.py

migrate: install secrets ## create the database if it is missing and apply migrations
	$(PY) scripts/ensure_database.py
	$(PY) manage.py migrate --noinput

seed: migrate ## seed the demo data once (staff user, API key, templates) and print it
	$(PY) manage.py seed_demo

# The API listens on $$PORT (environment, else .env, else 8000) and on 127.0.0.1 unless HOST says otherwise.
# Every Procfile process but Flower, which `FLOWER=1 make run` adds (with the workers' task events on).
PROCESSES = $(shell sed -n 's/^\([a-z_]*\):.*/\1/p' Procfile | grep -v '^flower$$')
run: seed ## start the whole system in the foreground (API on 127.0.0.1:8000, workers, relay, scheduler; FLOWER=1 adds Flower on 127.0.0.1:5555); Ctrl-C stops it
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(if $(filter 1 true yes,$(FLOWER)),TASK_EVENTS=true) HOST="$${HOST:-127.0.0.1}" exec honcho start --no-prefix -f Procfile \
		--port "$$($(PY) -c 'from notifier.environment import env; print(env.int("PORT", default=8000))')" \
		$(PROCESSES) $(if $(filter 1 true yes,$(FLOWER)),flower)

credentials: seed ## print a working demo API key and admin login (makes new ones if the old are gone)

dlq-list: install ## list the dead letters of every queue
	$(PY) manage.py dlq list

dlq-replay: install ## replay every dead letter of every queue (safe to run twice)
	$(PY) manage.py dlq replay

lint: install ## ruff (lint and format check) and mypy
	ruff check .
	ruff format --check .
	DEBUG=true mypy .  # the Django plugin loads the settings: DEBUG lets it do so without secrets

format: install ## apply ruff's fixes and formatting
	ruff check --fix .
	ruff format .

browser: ## install Debian's Chromium for the admin's browser test, unless it is there (apt, as root)
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

compose-tools: ## install Debian's docker-compose 1.29, which checks the compose file offline, unless it is there (apt, as root)
	@command -v docker-compose >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null)

test-tools: ## install Debian's pgbouncer (the pooling-mode tests) and KEDA's schema from npm (deploy/k8s's validation), unless they are there
	@command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null)
	@test -d var/k8s-tools/node_modules/@kubernetes-models/keda || (mkdir -p var/k8s-tools && cp deploy/k8s/tools/package.json var/k8s-tools/ && npm install --prefix var/k8s-tools --no-audit --no-fund --silent)

test: install lint browser compose-tools test-tools ## lint, then the whole suite against the real PostgreSQL, Redis and RabbitMQ
	$(PY) scripts/ensure_test_vhost.py
	pytest

load-tools: ## install wrk (Debian's package) for make bench, unless it is there (apt, as root)
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)

bench: install secrets load-tools ## throughput and latency on this machine beside same-run baselines; writes bench/results/latest.json
	$(PY) bench/run.py

chaos: install ## the fault scenarios at full size against the real system, with what became of every notification
	$(PY) scripts/ensure_test_vhost.py
	CHAOS_SCALE=full pytest -m chaos -q

cluster-test: install ## a 3-node RabbitMQ cluster of its own beside this machine's broker, a node killed at a time while sends go on: lost, duplicated, longest delivery gap
	$(PY) scripts/ensure_test_vhost.py
	trap '$(PY) scripts/rabbitmq_cluster.py down >/dev/null' EXIT INT TERM; CLUSTER_SCALE=full pytest -m cluster -q
