"""How fast a consumer reads the partner's event feed: 1,000 events over HTTP.

Starts the product as production runs it (bench/serving.py: gunicorn, the shipped
configuration, one worker; with --pin on core 1, the driver and PostgreSQL on core 0) on the
given PostgreSQL database, records N events
like those of delivered bookings, then reads 1,000 of them with one client credentials
token and one keep-alive connection, as a consumer catching up does: in one page of 1,000,
and in ten pages of 100 that resume from each page's last id. Reports the median and the
worst of R repetitions of each, and the server's CPU time per read (user + system time of
the gunicorn master and workers, read from /proc), which a busy machine inflates less than
the wall time. Needs Redis on 127.0.0.1:6379, as production does. Results
go to docs/performance.md ("Partner API event feed").

    python bench/events.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench_events --pin

The database must be empty.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import serving  # noqa: E402


def seed(app, count: int) -> tuple[str, str]:
    """``count`` events, an hour old (settled), and a partner API client; its credentials."""
    from sqlalchemy import insert

    from oidc_provider.core.extensions import db
    from oidc_provider.core.models import Event
    from oidc_provider.oidc.api_clients import create_api_client

    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    rows = [
        {
            "type": "booking.delivered",
            "occurred_at": hour_ago + timedelta(milliseconds=n),
            "data": {
                "partnerBookingId": f"bench-booking-{n}",
                "environment": "production",
                "accountId": "acct-1",
                "profileId": "p-1",
                "serviceId": "job-1",
                "attempts": 1,
                "error": None,
            },
        }
        for n in range(count)
    ]
    with app.app_context():
        db.session.execute(insert(Event), rows)
        db.session.commit()
        client, secret = create_api_client("Bench consumer", "events:read")
        return client.client_id, secret


def read(session: requests.Session, url: str, total: int, page: int) -> float:
    """Seconds to read ``total`` events from the start, ``page`` at a time."""
    started = time.perf_counter()
    seen, after = 0, None
    while seen < total:
        query = {"limit": page, **({"after": after} if after else {})}
        body = session.get(f"{url}/api/v1/events", params=query, timeout=60).json()
        seen += len(body["items"])
        after = body["items"][-1]["id"]
    assert seen == total, seen
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    serving.arguments(parser)
    parser.add_argument("--events", type=int, default=10_000, help="Events in the table.")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    bench = serving.Bench(args.database_url, "bench-events-")
    client_id, secret = seed(bench.app, args.events)
    with bench.serve(args.workers, args.pin, API_RATE_LIMIT="1000000/minute") as (server, pids):
        with requests.Session() as session:
            session.headers["Authorization"] = (
                "Bearer "
                + session.post(
                    server.url + "/token",
                    data={"grant_type": "client_credentials"},
                    auth=(client_id, secret),
                    timeout=10,
                ).json()["access_token"]
            )
            read(session, server.url, 1000, 1000)  # warm-up: the connection, imports, caches
            results, cpu = {}, {}
            for page in (1000, 100):
                before = serving.cpu_seconds(pids)
                results[page] = [read(session, server.url, 1000, page) for _ in range(args.repeat)]
                cpu[page] = (serving.cpu_seconds(pids) - before) / args.repeat
    print(f"{args.events} events stored, {os.cpu_count()} CPUs, load average {serving.load_average()}")
    for page, times in results.items():
        print(
            f"1,000 events in pages of {page}: median {statistics.median(times) * 1000:.1f} ms, "
            f"worst {max(times) * 1000:.1f} ms over {args.repeat} reads; server CPU {cpu[page] * 1000:.1f} ms per read"
        )


if __name__ == "__main__":
    main()
