"""The console benchmark still runs (on a sliver of its data: the measurement itself is
bench/admin_lists.py's job, and docs/admin-performance.md its record)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "admin_lists.py"


def test_the_console_benchmark_requests_every_list_and_search(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--database-url",
            f"sqlite:///{tmp_path / 'bench.sqlite'}",
            "--scale",
            "0.002",
            "--samples",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and "`/admin/" in line]
    assert len(rows) == 37
    for page in (
        "/admin/pairings?q=",
        "/admin/accounts?q=",
        "/admin/audit?q=",
        "/admin/users?q=",
        "/admin/bookings?q=",
        "/admin/outbox?view=failed",
        "/admin/webhooks?state=",
    ):
        assert any(page in row for row in rows), page
