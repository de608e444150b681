"""bench/outbox.py (W5) runs: two outbox workers send every queued booking to the sandbox.
The speed itself is what the script reports, not checked here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_outbox_benchmark_sends_every_booking(new_postgres_database):
    run = subprocess.run(
        [
            sys.executable,
            "bench/outbox.py",
            "--database-url",
            new_postgres_database("bench_outbox"),
            "--bookings",
            "40",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 0, run.stderr[-2000:]
    assert re.search(r"\d+ bookings sent/s; workers' CPU [\d.]+ ms per send; 0 not sent", run.stdout), run.stdout
