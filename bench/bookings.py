"""How fast the partner API accepts bookings: N posts of POST /api/v1/bookings, C in flight.

Starts the product as production runs it (bench/serving.py: gunicorn, the shipped
configuration, one worker for the one core it gets with --pin) on the given PostgreSQL
database, with one paired account, a job type and a partner API client, then posts N
distinct bookings with one client credentials token (each without idempotencyToken, so
the product mints one) and reports accepted bookings per second and the server's CPU time
per booking (user + system time of the gunicorn master and workers, read from /proc). The
outbox is not running: this measures accepting and queueing, not sending. Needs Redis on
127.0.0.1:6379, as production does. Results go to docs/performance.md ("Partner API bookings").

    python bench/bookings.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench_bookings --pin

The database must be empty.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import serving  # noqa: E402


def booking(n: int) -> dict:
    return {
        "partnerBookingId": f"bench-booking-{n}",
        "slot": {
            "accountId": "acct-1",
            "profileId": "p-1",
            "serviceId": "job-1",
            "startSec": 1893456000,
            "durationSec": 3600,
        },
        "userInformation": {
            "givenName": "Jane",
            "familyName": "Quimby",
            "telephone": "(555) 010-4477",
            "email": "jane.quimby@example.org",
            "address": {"streetAddress": "77 Sunset Boulevard", "locality": "Los Angeles", "postalCode": "90029"},
        },
        "description": "Leaking pipe under the sink",
    }


def seed(app) -> tuple[str, str]:
    """One eligible account with a profile, paired (Custom, COMPLETED) in the sandbox
    environment; one job type; a partner API client. Answers its credentials."""
    from oidc_provider.core.extensions import db
    from oidc_provider.core.models import JobType, Pairing, TenantUser
    from oidc_provider.directory.store import import_directory
    from oidc_provider.oidc.api_clients import create_api_client

    with app.app_context():
        import_directory(
            {
                "accounts": [{"id": "acct-1", "name": "Bench account", "profiles": [{"id": "p-1", "name": "Main"}]}],
                "users": [{"email": "bench@bench.example", "password": "bench-password-1", "accounts": ["acct-1"]}],
            }
        )
        user_id = db.session.scalar(db.select(TenantUser.id))
        db.session.add(JobType(category="Plumbing", partner_key="job-1", position=1))
        db.session.add(
            Pairing(
                mechanism="custom",
                environment="sandbox",
                request_id="bench-request",
                user_id=user_id,
                account_id="acct-1",
                status="COMPLETED",
            )
        )
        db.session.commit()
        client, secret = create_api_client("Bench platform", "bookings:write bookings:read")
        return client.client_id, secret


def post_all(url: str, token: str, numbers: range, in_flight: int) -> tuple[list[int], float]:
    """Post the bookings ``numbers``, ``in_flight`` at once, each thread with its own
    connection; the HTTP statuses and the seconds taken."""
    local = threading.local()

    def post(n: int) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = f"Bearer {token}"
        return local.session.post(f"{url}/api/v1/bookings", json=booking(n), timeout=60).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        statuses = list(pool.map(post, numbers))
    return statuses, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    serving.arguments(parser)
    parser.add_argument("--bookings", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=16)
    args = parser.parse_args()

    bench = serving.Bench(args.database_url, "bench-bookings-")
    client_id, secret = seed(bench.app)
    # One client posts everything: its rate limit is still counted on every call, never reached.
    settings = {"SERVICETITAN_ENVIRONMENT": "sandbox", "API_RATE_LIMIT": "1000000/minute"}
    with bench.serve(args.workers, args.pin, **settings) as (server, pids):
        token = requests.post(
            server.url + "/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10
        ).json()["access_token"]
        post_all(server.url, token, range(20), args.in_flight)  # warm-up: connections, imports
        before = serving.cpu_seconds(pids)
        statuses, seconds = post_all(server.url, token, range(20, args.bookings), args.in_flight)
        cpu = serving.cpu_seconds(pids) - before
    sent = len(statuses)
    accepted = sum(status == 202 for status in statuses)
    print(
        f"{sent} bookings, {args.in_flight} in flight, {args.workers} gunicorn workers, {os.cpu_count()} CPUs, "
        f"load average {serving.load_average()}"
    )
    print(
        f"{accepted / seconds:.0f} accepted bookings/s; server CPU {cpu / sent * 1000:.2f} ms per booking; "
        f"{sent - accepted} answers other than 202"
    )


if __name__ == "__main__":
    main()
