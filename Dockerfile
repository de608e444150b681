# syntax=docker/dockerfile:1
# The provider's image: the wheel built and installed from the lock (requirements/runtime.txt),
# run by a user of its own, the production web server as its entry point.
#   docker build -t servicetitan-pairing-server .
# compose.yaml runs it beside PostgreSQL and Redis; docs/production.md explains both.
# tests/e2e/test_container_recipe.py runs these commands, as written, outside a container.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY requirements/runtime.txt requirements/runtime.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/pairing \
    && /opt/pairing/bin/pip install --disable-pip-version-check --require-hashes --requirement requirements/runtime.txt
COPY pyproject.toml README.md LICENSE ./
COPY oidc_provider oidc_provider
COPY templates templates
COPY static static
COPY migrations migrations
# Built with the locked setuptools, installed without resolving anything again.
RUN /opt/pairing/bin/pip wheel --disable-pip-version-check --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/pairing/bin/pip install --disable-pip-version-check --no-deps /wheels/servicetitan_pairing_server-*.whl

FROM ${PYTHON_IMAGE}
RUN useradd --system --user-group --uid 10001 --home-dir /srv/pairing --create-home pairing
COPY --from=build /opt/pairing /opt/pairing
ENV PATH=/opt/pairing/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PORT=8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/pairing-metrics
USER pairing
WORKDIR /srv/pairing
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PORT'], timeout=4)"]
# gunicorn listens on 0.0.0.0:$PORT; the migration, the outbox worker and the daily purge
# run from the same image with another entry point (compose.yaml).
ENTRYPOINT ["pairing-server"]
