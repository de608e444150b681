"""The benchmark script runs, briefly, against a live server (the benchmark itself is not a test)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import LiveServer, build_app
from tests.factories import PASSWORD, Factories, password_hash

BENCH = Path(__file__).resolve().parents[2] / "bench" / "run.py"
CALLBACK = "https://bench.invalid/callback"


def test_the_benchmark_runs_every_workload_for_a_second(tmp_path):
    app = build_app(f"sqlite:///{tmp_path / 'bench.sqlite'}", tmp_path)
    make = Factories(app)
    make.directory(
        accounts=[{"id": "acct-1", "name": "Bench", "profiles": [{"id": "p-1", "name": "Main"}]}],
        users=[{"email": "bench-1@bench.example", "password_hash": password_hash(), "accounts": ["acct-1"]}],
    )
    client = make.client(redirect_uris=[CALLBACK])
    results = tmp_path / "results.json"

    with LiveServer(app) as server:
        app.config["ISSUER"] = server.url
        run = subprocess.run(
            [
                sys.executable,
                str(BENCH),
                "--url",
                server.url,
                "--client-id",
                client.client_id,
                # "=": a secret may begin with "-", which argparse would take for an option.
                f"--client-secret={client.client_secret}",
                "--redirect-uri",
                CALLBACK,
                "--password",
                PASSWORD,
                "--duration",
                "1",
                "--warmup",
                "0",
                "--concurrency",
                "1",
                "--w1-concurrency",
                "1",
                "--w3-concurrency",
                "1",
                "--codes-per-user",
                "10",
                "--json",
                str(results),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(results.read_text())
    by_workload = {r["workload"]: r for r in report["results"]}
    assert set(by_workload) == {"W1 discovery+JWKS", "W2 pairing round trip", "W3 code exchange"}
    assert [
        (r["workload"], r["errors"], r["first_error"]) for r in report["results"] if r["errors"] or not r["operations"]
    ] == []
    assert {"authorize", "token", "verify_id_token", "account_info"} <= set(
        by_workload["W2 pairing round trip"]["steps"]
    )
    assert by_workload["W3 code exchange"]["operations"] <= 10
    assert report["setup"]["duration_s"] == 1.0 and report["setup"]["driver_cpus"]
    assert "W2 pairing round trip" in run.stdout  # the table


FLOOR = Path(__file__).resolve().parents[2] / "bench" / "floor.py"


def test_the_floor_benchmark_measures_each_application(new_postgres_database):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cpus = sorted(os.sched_getaffinity(0))
    run = subprocess.run(
        [
            sys.executable,
            str(FLOOR),
            "--database-url",
            new_postgres_database("floor"),
            # Enough requests to span several clock ticks (/proc counts CPU in 10 ms ticks).
            "--requests",
            "300",
            "--warmup",
            "5",
            "--port",
            str(port),
            "--server-cpu",
            str(cpus[-1]),
            "--driver-cpu",
            str(cpus[0]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    costs = {line.split()[0]: float(line.split()[1]) for line in run.stdout.splitlines()}
    assert set(costs) == {"wsgi", "flask", "flask-db-1", "flask-db-6", "statement", "transaction"}
    # Each application serves (the script checks every answer is 200) and costs CPU.
    assert all(costs[name] > 0 for name in ("wsgi", "flask", "flask-db-1", "flask-db-6"))
