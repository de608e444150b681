"""Metrics add up across gunicorn workers: requests served by two workers, one total."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ENCRYPTION_KEY, build_app
from tests.gunicorn_server import Gunicorn, production_environment

BATCH = 40
# A bound on time, not on requests: on a busy machine the second worker may still be
# starting while the first serves hundreds of requests.
MAX_SECONDS = 60


def healthz_count(samples) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == "oidc_provider_http_requests_total" and s.labels.get("endpoint") == "/healthz"
    )


def scraped(url: str) -> list:
    response = requests.get(url + "/metrics", timeout=10)
    assert response.status_code == 200
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def per_worker_healthz(folder) -> dict[int, float]:
    """Each worker's own /healthz count, read from its file in PROMETHEUS_MULTIPROC_DIR."""
    counts = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        counts[pid] = healthz_count(s for m in MultiProcessCollector.merge([str(path)]) for s in m.samples)
    return counts


@pytest.fixture(scope="module")
def gunicorn_two_workers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("metrics")
    url = f"sqlite:///{folder / 'metrics.sqlite'}"
    build_app(url, folder)  # migrated, with signing keys
    metrics_dir = folder / "prometheus"
    env = production_environment(url, "http://127.0.0.1", "metrics-secret", ENCRYPTION_KEY)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    with Gunicorn(env, folder / "gunicorn.log", workers=2) as server:
        server.metrics_dir = metrics_dir
        yield server


def test_one_scrape_adds_up_the_requests_of_every_worker(gunicorn_two_workers):
    server = gunicorn_two_workers
    before = per_worker_healthz(server.metrics_dir)  # the readiness polls
    sent = 0
    deadline = time.monotonic() + MAX_SECONDS
    with ThreadPoolExecutor(max_workers=4) as pool:
        while time.monotonic() < deadline:
            statuses = list(
                pool.map(lambda _: requests.get(server.url + "/healthz", timeout=10).status_code, range(BATCH))
            )
            assert statuses == [200] * BATCH
            sent += BATCH
            served = {pid: count - before.get(pid, 0) for pid, count in per_worker_healthz(server.metrics_dir).items()}
            if len([pid for pid, count in served.items() if count > 0]) >= 2:
                break

    assert set(served) <= set(server.worker_pids())
    assert len([count for count in served.values() if count > 0]) == 2, served
    assert sum(served.values()) == sent
    # Whichever worker answers the scrape reports the total of both.
    for _ in range(4):
        assert healthz_count(scraped(server.url)) == sent + sum(before.values())


def test_the_database_gauges_are_in_the_same_scrape(gunicorn_two_workers):
    names = {s.name for s in scraped(gunicorn_two_workers.url)}

    assert {"oidc_provider_pairings", "oidc_provider_outbox_messages", "oidc_provider_tokens_issued_total"} <= names
