"""The guides' install and start steps, run as written, in order, on a fresh PostgreSQL
database: README.md's "Running it for real", then docs/operations.md (and
in one shell (docs/partner-api.md's run in tests/web/partner_api/test_docs.py), from a copy of the checkout.

Only the names the guides tell the reader to replace are replaced (each replacement must
still be found, so a stale one fails); the servers they start are run in the background
and checked, then stopped. The installation is the one the container-recipe test shares.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time

import psycopg
import requests

from oidc_provider.core.release import VERSION
from tests.docs_blocks import ROOT, commands, run_blocks
from tests.e2e.conftest import checkout_copy
from tests.gunicorn_server import free_port

#: Commands that serve until stopped: started in the background, in the order written.
LONG_RUNNING = ("pairing-server ", "flask --app oidc_provider outbox run")


def test_the_install_and_start_steps_run_as_written(installation, fresh_database, tmp_path):
    _, database_url = fresh_database
    port = free_port()
    replacements = {
        "/opt/pairing": str(installation.venv),
        "/srv/pairing": str(tmp_path / "srv"),
        "postgresql+psycopg://pairing@db.internal/pairing": database_url,
        "0.0.0.0:8000": f"127.0.0.1:{port}",
    }
    checkout = checkout_copy(tmp_path / "checkout")
    # The reader's own directory file, here the demo's, in the folder the provider runs from.
    (tmp_path / "srv").mkdir()
    shutil.copy(ROOT / "oidc_provider" / "demo_directory.json", tmp_path / "srv" / "tenants.json")
    pids = tmp_path / "pids"

    script = ["set -eo pipefail"]
    background = []
    for _, body in run_blocks():
        for command in commands(body):
            if command.startswith(LONG_RUNNING):
                log = tmp_path / f"background-{len(background)}.log"
                background.append((command, log))
                without_comment = re.sub(r"\s+#.*$", "", command)
                command = f"{without_comment} >{log} 2>&1 &\necho $! >>{pids}"
            script.append(command)
    text = "\n".join(script)
    for written, here in replacements.items():
        assert written in text, f"the guides no longer say {written}: update this test's replacements"
        text = text.replace(written, here)
    assert background and background[0][0].startswith("pairing-server")

    try:
        run = subprocess.run(
            ["bash", "-c", text],
            cwd=checkout,
            env=installation.environment(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
        assert f"{VERSION}\n" in run.stdout  # flask --app oidc_provider version
        with psycopg.connect(database_url.replace("+psycopg", "")) as connection:
            clients = connection.execute("SELECT name FROM clients").fetchall()
            accounts = connection.execute("SELECT count(*) FROM accounts").fetchone()[0]
        assert clients == [("ServiceTitan",)]
        assert accounts == len(json.loads((tmp_path / "srv" / "tenants.json").read_text())["accounts"])

        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{base}/readyz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, background[0][1].read_text()
            time.sleep(0.5)
        assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok", "version": VERSION}
        discovery = requests.get(f"{base}/.well-known/openid-configuration", timeout=5).json()
        assert discovery["issuer"] == "https://auth.partner.example"
        (worker_log,) = [log for command, log in background if "outbox run" in command]
        while "outbox worker" not in worker_log.read_text():
            assert time.monotonic() < deadline, worker_log.read_text()
            time.sleep(0.5)
    finally:
        for pid in pids.read_text().split() if pids.exists() else []:
            try:
                os.kill(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass
