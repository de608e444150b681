"""bench/events.py runs: a consumer reads 1,000 events from the feed, in one page and in ten.
The speed itself is what the script reports, not checked here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_event_feed_benchmark_reads_a_thousand_events(new_postgres_database):
    run = subprocess.run(
        [
            sys.executable,
            "bench/events.py",
            "--database-url",
            new_postgres_database("bench_events"),
            "--events",
            "1500",
            "--repeat",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 0, run.stderr[-2000:]
    for page in ("1000", "100"):
        assert re.search(rf"1,000 events in pages of {page}: median [\d.]+ ms", run.stdout), run.stdout
