"""How fast the outbox sends bookings to ServiceTitan (W5): N queued bookings, sent to the
offline sandbox (st_sandbox, under gunicorn) by W outbox workers (``flask outbox run``, as
production runs them).

With --pin the workers share core 1 and the sandbox, PostgreSQL and this driver core 0
(bench/serving.py). The bookings are queued before the workers start; the window opens at
the first delivery and closes when every message is delivered. Reports bookings sent per
second and the workers' CPU time per send (user + system, read from /proc); the sandbox's
and PostgreSQL's are not counted. Results go to docs/performance.md ("Outbox").

    python bench/outbox.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench_outbox --pin

The database must be empty.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import Bench, cpu_seconds, pinned  # noqa: E402
from tests.gunicorn_server import Gunicorn, production_environment  # noqa: E402

ACCOUNT = {"id": "acct-1", "name": "Bench account", "profiles": [{"id": "p-1", "name": "Main"}]}
# The sandbox's default Leads API credentials (st_sandbox/state.py).
API_CLIENT = ("partner_client", "7a2abb98b5117e80500af07788109d1d2031784dbb6cc1833262f0ac2132")
# One process (the sandbox keeps its state in memory), four threads, keep-alive.
SANDBOX = ("st_sandbox.app:create_app()", ("--worker-class", "gthread", "--threads", "4"), "/_sandbox/state")


def booking(n: int) -> dict:
    return {
        "idempotencyToken": f"bench-token-{n}",
        "partnerBookingId": f"bench-booking-{n}",
        "slot": {"accountId": "acct-1", "profileId": "p-1", "serviceId": "job-1"},
        "userInformation": {"givenName": "Jane", "address": {"streetAddress": f"{n} Main St"}},
    }


def seed(app, sandbox_url: str, count: int) -> None:
    """The account, the sandbox environment pointing at ``sandbox_url``, ``count`` bookings queued."""
    from oidc_provider.core.extensions import db
    from oidc_provider.directory.store import import_directory
    from oidc_provider.servicetitan.environments import configure
    from oidc_provider.servicetitan.outbox import enqueue_booking

    with app.app_context():
        import_directory({"accounts": [ACCOUNT], "users": []})
        configure(
            "sandbox",
            identity_url=sandbox_url,
            api_url=sandbox_url,
            client_id=API_CLIENT[0],
            client_secret=API_CLIENT[1],
        )
        for n in range(count):
            enqueue_booking("sandbox", booking(n))
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # As autovacuum does shortly after a bulk load in production: without statistics
            # the claim's plan reads every open message for each one it claims.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("ANALYZE")


def open_count(app) -> int:
    from sqlalchemy import func, select

    from oidc_provider.core.extensions import db
    from oidc_provider.core.models import OutboxMessage
    from oidc_provider.servicetitan.outbox import PENDING

    with app.app_context():
        count = db.session.scalar(select(func.count()).where(OutboxMessage.state == PENDING))
        db.session.remove()
        return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--bookings", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--pin", action="store_true", help="Workers on core 1; sandbox, PostgreSQL and driver on core 0."
    )
    args = parser.parse_args()

    bench = Bench(args.database_url, "bench-outbox-")
    with Gunicorn(dict(os.environ), bench.folder / "sandbox.log", workers=1, serving=SANDBOX) as sandbox:
        requests.post(sandbox.url + "/_sandbox/accounts", json=ACCOUNT, timeout=5).raise_for_status()
        seed(bench.app, sandbox.url, args.bookings)
        env = production_environment(
            args.database_url, "http://127.0.0.1", "bench-secret-key", bench.encryption_key, OUTBOX_POLL_INTERVAL="0.2"
        )
        command = [sys.executable, "-m", "flask", "--app", "oidc_provider", "outbox", "run"]
        workers: list[subprocess.Popen] = []
        try:
            for n in range(args.workers):
                log = open(bench.folder / f"worker-{n}.log", "w")  # noqa: SIM115 - closed with the process
                workers.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
            pids = [worker.pid for worker in workers]
            with pinned(pids, args.pin, beside_driver=(sandbox.process.pid, *sandbox.worker_pids())):
                started = time.perf_counter()
                # The window opens at the first delivery: the workers' start (imports, about a
                # second of CPU each) is not the outbox's work.
                while (first := open_count(bench.app)) == args.bookings and time.perf_counter() - started < 120:
                    time.sleep(0.01)
                opened, cpu_before = time.perf_counter(), cpu_seconds(pids)
                while (left := open_count(bench.app)) > 0 and time.perf_counter() - opened < 600:
                    time.sleep(0.05)
                seconds, cpu = time.perf_counter() - opened, cpu_seconds(pids) - cpu_before
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=30)
    sent = first - left
    print(
        f"{sent} bookings, {args.workers} outbox workers, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; logs in {bench.folder}"
    )
    print(
        f"{sent / seconds:.0f} bookings sent/s; "
        f"workers' CPU {cpu / max(sent, 1) * 1000:.2f} ms per send; {left} not sent"
    )


if __name__ == "__main__":
    main()
