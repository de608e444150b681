"""flask outbox run --metrics-port: a worker in a process of its own serves its sends'
counts to Prometheus."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from oidc_provider.core.extensions import db
from oidc_provider.servicetitan.outbox import enqueue_account_status
from tests.conftest import ENCRYPTION_KEY, build_app
from tests.factories import Factories
from tests.gunicorn_server import free_port


def delivered(url: str) -> float:
    try:
        text = requests.get(url, timeout=5).text
    except requests.ConnectionError:
        return -1  # not listening yet
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "oidc_provider_outbox_sends_total" and s.labels.get("outcome") == "delivered":
                return s.value
    return 0


def test_a_worker_serves_its_counts(tmp_path, st_sandbox):
    url = f"sqlite:///{tmp_path / 'worker.sqlite'}"
    app = build_app(url, tmp_path)
    Factories(app).servicetitan(st_sandbox.url)
    st_sandbox.state.create_request("custom", "req-1")
    with app.app_context():
        enqueue_account_status("sandbox", "req-1", "PROCESSING")
        db.session.commit()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_PROVIDER_", "PROMETHEUS_"))}
    env.update(
        DATABASE_URL=url,
        OIDC_PROVIDER_SECRET_KEY="worker-test-secret-key",
        OIDC_PROVIDER_ENCRYPTION_KEYS=json.dumps([ENCRYPTION_KEY]),
    )
    port = free_port()
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "oidc_provider", "outbox", "run", "--metrics-port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while (count := delivered(f"http://127.0.0.1:{port}/metrics")) < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, log = worker.communicate(timeout=30)

    assert count == 1, log
    assert worker.returncode == 0, log
    assert [a.body["requestId"] for a in st_sandbox.state.applied] == ["req-1"]
