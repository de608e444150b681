"""What the benches that start the product share (bookings, webhooks, events, outbox): the
product as production runs it (gunicorn, the shipped configuration) on a given database,
pinned the way bench/run-all.sh pins it, and the server's CPU time read from /proc. The
outbox bench takes the database, the pinning and the CPU time, with outbox workers as the
server.

With ``pin``, every thread of gunicorn's master and workers runs on core 1, and this driver
and PostgreSQL's processes on core 0, so that nothing else runs on the server's core; new
PostgreSQL backends inherit the postmaster's affinity. PostgreSQL gets the whole machine back
when the server stops. Pinning another user's PostgreSQL needs the right to: without it, a
note says so and PostgreSQL runs where the kernel puts it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.gunicorn_server import Gunicorn, production_environment  # noqa: E402

SERVER_CPU, DRIVER_CPU = 1, 0


def arguments(parser: argparse.ArgumentParser) -> None:
    """The options every bench that starts the product takes."""
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pin", action="store_true", help="Server on core 1, driver and PostgreSQL on core 0.")


class Bench:
    """A migrated database with an app bound to it (``app``, for seeding), then the product
    under gunicorn on the same database (``serve``)."""

    def __init__(self, database_url: str, prefix: str):
        from tests.conftest import build_app  # not at import: the suite imports bench modules

        self.database_url = database_url
        self.encryption_key = Fernet.generate_key().decode()
        self.folder = Path(tempfile.mkdtemp(prefix=prefix))
        self.app = build_app(database_url, self.folder, ENCRYPTION_KEYS=[self.encryption_key])

    @contextmanager
    def serve(self, workers: int, pin: bool, **settings) -> Iterator[tuple[Gunicorn, list[int]]]:
        """gunicorn with ``settings`` (``OIDC_PROVIDER_`` names without the prefix); yields
        the server and the pids whose CPU time is the server's."""
        env = production_environment(
            self.database_url, "http://127.0.0.1", "bench-secret-key", self.encryption_key, **settings
        )
        with Gunicorn(env, self.folder / "gunicorn.log", workers=workers) as server:
            pids = [server.process.pid, *server.worker_pids()]
            with pinned(pids, pin):
                yield server, pids


@contextmanager
def pinned(server: list[int], pin: bool, beside_driver: tuple[int, ...] = ()) -> Iterator[None]:
    """With ``pin`` on a machine of more than one core: every thread of ``server`` on core 1;
    this driver, ``beside_driver`` and PostgreSQL on core 0. PostgreSQL gets the whole machine
    back at the end."""
    if not (pin and (os.cpu_count() or 1) > 1):
        yield
        return
    for pid in server:
        _pin_process(pid, {SERVER_CPU})  # a gthread worker's threads too
    os.sched_setaffinity(0, {DRIVER_CPU})
    for pid in beside_driver:
        _pin_process(pid, {DRIVER_CPU})
    try:
        for pid in _postgres_pids():
            _pin_process(pid, {DRIVER_CPU})
    except PermissionError:
        print("note: cannot pin PostgreSQL; it runs on any core", file=sys.stderr)
    try:
        yield
    finally:
        everywhere = set(range(os.cpu_count() or 1))
        for pid in _postgres_pids():
            try:
                _pin_process(pid, everywhere)
            except PermissionError:
                pass


def _pin_process(pid: int, cpus: set[int]) -> None:
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:  # a backend that ended meanwhile
        return
    for thread in threads:
        try:
            os.sched_setaffinity(int(thread), cpus)
        except ProcessLookupError:
            pass


def _postgres_pids() -> list[int]:
    """The processes of every PostgreSQL server on this machine (by command name)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == "postgres":
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system time of ``pids``, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())
