"""Prometheus metrics that add up across gunicorn workers.

Each worker counts in its own process. With ``PROMETHEUS_MULTIPROC_DIR`` set (as the
production guide's gunicorn configuration does), prometheus_client keeps those counts in
files in that folder, and a scrape of any worker adds up every worker's files: one total,
whichever worker answers. Without it (a single process, the tests) the counts are this
process's.

Figures that live in the database — pairings by status, the outbox's depth and the age of
its oldest message — are read at scrape time, not counted, so every instance reports the
same truth. Outbox sends are counted by the process that sends them: a web worker with
``OUTBOX_IN_PROCESS``, or ``flask outbox run``, which serves its own counts with
``--metrics-port``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from flask import Flask, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import OutboxMessage, Pairing
from oidc_provider.servicetitan import outbox
from oidc_provider.servicetitan.outbox import OPEN_STATES
from oidc_provider.servicetitan.statuses import RECORD_STATUSES

# prometheus_client opens its file in that folder as soon as a metric is made, in every
# process that imports this module (a CLI command too).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

REQUESTS = Counter(
    "oidc_provider_http_requests_total",
    "HTTP requests answered, by endpoint (the route), method and status.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "oidc_provider_http_request_duration_seconds",
    "Time from the request's arrival in the worker to its answer, by endpoint.",
    ["endpoint"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
TOKENS_ISSUED = Counter("oidc_provider_tokens_issued_total", "Access tokens and id_tokens issued at /token.")
WEBHOOKS_REFUSED = Counter(
    "oidc_provider_webhooks_refused_total",
    "Webhook deliveries refused for their key (missing, wrong, or none set), by topic and reason.",
    ["topic", "reason"],
)
SIGN_IN_FAILURES = Counter("oidc_provider_sign_in_failures_total", "Tenant sign-ins refused: wrong email or password.")
OUTBOX_SENDS = Counter(
    "oidc_provider_outbox_sends_total",
    "Attempts to send an outbox message, by kind (account_status, booking, forward) and outcome "
    "(delivered; retry: to be sent again; failed: refused, an admin must act).",
    ["kind", "outcome"],
)
WEBHOOK_DELIVERIES = Counter(
    "oidc_provider_webhook_deliveries_total",
    "Authenticated webhook deliveries from ServiceTitan, by topic and the state they were kept in "
    "(stored, duplicate, invalid, not_json, unknown_booking).",
    ["topic", "state"],
)
outbox.attempt_listeners.append(lambda kind, outcome: OUTBOX_SENDS.labels(kind, outcome).inc())

#: Gauges read from the database at scrape time: functions answering a metric family.
DATABASE_GAUGES: list[Callable[[], GaugeMetricFamily]] = []


def database_gauge(function: Callable[[], GaugeMetricFamily]) -> Callable[[], GaugeMetricFamily]:
    """Register a gauge read from the database on every scrape (e.g. an outbox's depth)."""
    DATABASE_GAUGES.append(function)
    return function


@database_gauge
def pairings_by_status() -> GaugeMetricFamily:
    family = GaugeMetricFamily("oidc_provider_pairings", "Pairings recorded, by status.", labels=["status"])
    counts = dict.fromkeys(RECORD_STATUSES, 0)
    counts.update(db.session.execute(select(Pairing.status, func.count()).group_by(Pairing.status)).all())
    for status, count in counts.items():
        family.add_metric([status], count)
    return family


@database_gauge
def outbox_depth() -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "oidc_provider_outbox_messages",
        "Calls to ServiceTitan not yet delivered: pending (to be sent or retried) and failed (an admin must act).",
        labels=["state"],
    )
    counts = dict(
        db.session.execute(
            select(OutboxMessage.state, func.count())
            .where(OutboxMessage.state.in_(OPEN_STATES))
            .group_by(OutboxMessage.state)
        ).all()
    )
    for state in OPEN_STATES:
        family.add_metric([state], counts.get(state, 0))
    return family


@database_gauge
def outbox_oldest_pending_age() -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "oidc_provider_outbox_oldest_pending_age_seconds",
        "Seconds since the oldest message still to deliver was written; 0 when none waits.",
    )
    oldest = outbox.oldest_pending_created_at()
    family.add_metric([], max(0.0, (clock.now() - oldest).total_seconds()) if oldest else 0.0)
    return family


class _DatabaseCollector:
    def collect(self) -> Iterable[GaugeMetricFamily]:
        for gauge in DATABASE_GAUGES:
            yield gauge()


class _Scrape:
    """Several collectors read as one, for one scrape."""

    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


def render() -> tuple[bytes, str]:
    """The exposition text of every worker's counts and the database gauges."""
    counts = MultiProcessCollector(None) if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else REGISTRY
    return generate_latest(_Scrape(counts, _DatabaseCollector())), CONTENT_TYPE_LATEST


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _count(response):
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    LATENCY.labels(endpoint).observe(time.perf_counter() - g.get("metrics_started", time.perf_counter()))
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_count)
