# Punchcard's one image: a worker by default, the HTTP API with `punchcard api`.
# docker-compose.yml runs both from it; configuration is environment variables only
# (PUNCHCARD_*, see workers/settings.py), and no secret is ever baked in.

# --- build: install the project (no dev extras) into a self-contained virtualenv ---
FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY starter ./starter
RUN python -m venv /opt/punchcard \
    && /opt/punchcard/bin/pip install --no-cache-dir /src

# --- run: the same base, the virtualenv, and an unprivileged user ---
FROM python:3.11-slim-bookworm

ENV PATH=/opt/punchcard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PUNCHCARD_DATA_DIR=/var/lib/punchcard \
    PUNCHCARD_API_HOST=0.0.0.0

RUN groupadd --system --gid 10001 punchcard \
    && useradd --system --uid 10001 --gid punchcard --no-create-home \
        --home-dir /var/lib/punchcard --shell /usr/sbin/nologin punchcard \
    && mkdir -p /var/lib/punchcard \
    && chown punchcard:punchcard /var/lib/punchcard

COPY --from=build /opt/punchcard /opt/punchcard

USER 10001:10001
WORKDIR /var/lib/punchcard

# The API's port (PUNCHCARD_API_PORT); 9464 is the Prometheus endpoint when
# PUNCHCARD_METRICS_BIND is set to 0.0.0.0:9464.
EXPOSE 8000 9464

# Workers stop gracefully on SIGTERM, finishing in-flight tasks.
STOPSIGNAL SIGTERM
CMD ["punchcard", "worker"]
