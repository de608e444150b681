"""How fast the webhook receiver keeps deliveries: N lead status updates, C in flight.

Starts the product as production runs it (bench/serving.py: gunicorn, the shipped
configuration, one worker for the one core it gets with --pin) on the given PostgreSQL
database, sets a signing key and one booking per delivery, then sends every delivery with the ServiceTitan sandbox's own sender and reports
deliveries per second and the server's CPU time per delivery (user + system time of the
gunicorn master and workers, read from /proc). Needs Redis on 127.0.0.1:6379, as
production does. Results go to docs/performance.md ("Webhook ingestion").

    python bench/webhooks.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench_webhooks
    python bench/webhooks.py --database-url ... --deliveries 5000 --in-flight 50 --pin

The database must be empty (or hold only an earlier run of this script).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import serving  # noqa: E402
from st_sandbox import webhooks as sender  # noqa: E402

KEY = "bench-webhook-signing-key"
SENT_AT = 1_658_312_877


def bodies(count: int) -> list[tuple[str, dict]]:
    """One Accepted update per booking bench-<n>, each with its own statusUpdateId."""
    return [
        (
            "accepted",
            sender.lead_status_body(
                "accepted",
                {"partnerBookingId": f"bench-{n}", "slot": {"accountId": "acct-1", "profileId": "p-1"}},
                SENT_AT,
                SENT_AT + 600,
                statusUpdateId=f"update-{n}",
            ),
        )
        for n in range(count)
    ]


def flood(prefix: str, key: str, deliveries: list[tuple[str, dict]], in_flight: int) -> tuple[list[int], float]:
    """Send every delivery, ``in_flight`` at once; the HTTP statuses and the seconds taken."""
    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        statuses = list(pool.map(lambda d: sender.send(prefix, d[0], d[1], key, timeout=60).status_code, deliveries))
    return statuses, time.perf_counter() - started


def seed(app, count: int) -> None:
    """The signing key and the bookings the updates are about."""
    from oidc_provider.core.extensions import db
    from oidc_provider.core.models import Booking, OutboxMessage
    from oidc_provider.servicetitan.catalog.webhook_keys import paste

    with app.app_context():
        paste(KEY, "bench")
        for n in range(count):
            message = OutboxMessage(kind="booking", environment="production", ordering_key=f"bench-{n}", payload={})
            db.session.add(message)
            db.session.flush()
            db.session.add(
                Booking(
                    partner_booking_id=f"bench-{n}",
                    environment="production",
                    account_id="acct-1",
                    profile_id="p-1",
                    service_id="s-1",
                    message_id=message.id,
                )
            )
        db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    serving.arguments(parser)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=50)
    args = parser.parse_args()

    bench = serving.Bench(args.database_url, "bench-webhooks-")
    seed(bench.app, args.deliveries)
    with bench.serve(args.workers, args.pin) as (server, pids):
        prefix = server.url + "/servicetitan/webhooks"
        flood(prefix, KEY, bodies(20), args.in_flight)  # warm-up: connections, imports (booking ids reused: duplicates)
        before = serving.cpu_seconds(pids)
        statuses, seconds = flood(prefix, KEY, bodies(args.deliveries)[20:], args.in_flight)
        cpu = serving.cpu_seconds(pids) - before
    sent = len(statuses)
    wrong = sum(status != 200 for status in statuses)
    print(
        f"{sent} deliveries, {args.in_flight} in flight, {args.workers} gunicorn workers, {os.cpu_count()} CPUs, "
        f"load average {serving.load_average()}"
    )
    print(
        f"{sent / seconds:.0f} deliveries/s; server CPU {cpu / sent * 1000:.2f} ms per delivery; "
        f"{wrong} answers other than 200"
    )


if __name__ == "__main__":
    main()
