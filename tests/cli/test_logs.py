"""With JSON logs on, every line a command writes to stderr is a JSON object: Alembic's
migration lines, the development-mode warnings, the outbox worker's start and stop."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys

import pytest

FLASK = [sys.executable, "-m", "flask", "--app", "oidc_provider"]


@pytest.fixture
def environment(tmp_path) -> dict:
    """Development mode on a fresh SQLite database, with its secrets given, so that the
    checkout's instance folder is left alone; the throttling store is left out on purpose."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_PROVIDER_", "PROMETHEUS_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'logs.sqlite'}",
        OIDC_PROVIDER_SECRET_KEY="log-test-secret-key",
        OIDC_PROVIDER_ENCRYPTION_KEYS=base64.urlsafe_b64encode(b"log-test-fernet-key-of-32-bytes!").decode(),
        OIDC_PROVIDER_LOG_FORMAT="json",
    )
    return env


def json_lines(stderr: str) -> list[dict]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]  # fails on the first line that is not JSON


def test_db_upgrade_logs_only_json(environment):
    result = subprocess.run([*FLASK, "db", "upgrade"], env=environment, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    entries = json_lines(result.stderr)
    migrations = [e["message"] for e in entries if e["logger"] == "alembic.runtime.migration"]
    assert any(m.startswith("Running upgrade  -> 0001") for m in migrations), migrations
    warnings = [e for e in entries if e["level"] == "WARNING"]
    assert any("throttling counts are kept in this process's memory" in w["message"] for w in warnings)


def test_text_logs_stay_text(environment):
    environment["OIDC_PROVIDER_LOG_FORMAT"] = "text"

    result = subprocess.run([*FLASK, "db", "upgrade"], env=environment, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert " INFO alembic.runtime.migration [-] Running upgrade  -> 0001" in result.stderr
    assert not result.stderr.lstrip().startswith("{")


def test_the_outbox_worker_says_it_starts_and_stops_in_json(environment):
    subprocess.run([*FLASK, "db", "upgrade"], env=environment, capture_output=True, check=True, timeout=120)
    worker = subprocess.Popen([*FLASK, "outbox", "run"], env=environment, stderr=subprocess.PIPE, text=True)
    try:
        started = []
        for line in worker.stderr:
            started.append(json.loads(line))
            if "running" in started[-1]["message"]:
                break
        worker.send_signal(signal.SIGTERM)
        _, rest = worker.communicate(timeout=30)
    finally:
        worker.kill()

    assert worker.returncode == 0
    entries = started + json_lines(rest)
    start = next(e for e in entries if "running" in e["message"])
    assert start["logger"] == "oidc_provider.servicetitan.outbox" and start["worker"] in start["message"]
    assert entries[-1]["message"] == f"outbox worker {start['worker']} stopped"
