# One image for every role of notifier: the entrypoint's first argument picks it (see
# deploy/docker-entrypoint.sh): api, email-worker, push-worker, relay, migrate, or any command.
# The base image is a build argument: behind a registry mirror, or without Docker Hub, build from your
# own Debian-based Python 3.11: `docker build --build-arg PYTHON_IMAGE=mirror.example/python:3.11-slim .`
# Under podman or buildah, build with `--format docker`: the OCI format has no HEALTHCHECK (the compose
# file sets the same check for every service anyway).
ARG PYTHON_IMAGE=python:3.11-slim

# Builder: a virtualenv with the runtime requirements only (the dev tools stay out of the image).
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

# Runtime: the same base, the virtualenv, the code, the collected static files; no build tools.
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=notifier.settings \
    PORT=8000 \
    HOME=/home/notifier
# The runtime user has a home of its own (gunicorn keeps its control socket under $HOME/.gunicorn).
RUN groupadd --system --gid 10001 notifier \
    && useradd --system --uid 10001 --gid notifier --home-dir /home/notifier --create-home \
       --shell /usr/sbin/nologin notifier
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# The code stays owned by root: the app user can read it, not change it.
COPY . /app
# Static files are served by whitenoise from the image. DEBUG for this one step only: it needs no secret
# (without DEBUG, settings refuse to load without real ones, which come from the environment at run
# time). var/ holds the file outboxes: emails without SMTP settings, pushes without Firebase credentials.
RUN DEBUG=true python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var/mail /app/var/push \
    && chown -R 10001:10001 /app/var
USER 10001:10001

EXPOSE 8000
# The API's liveness: GET /health on $PORT. Other roles override it (docker-compose.yml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "deploy/healthcheck.py"]
ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
CMD ["api"]
