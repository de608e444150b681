"""How fast the admin console's lists and searches are on a large directory.

Seeds 10,000 accounts (each with a profile), 5,000 tenant users, 100,000 pairings,
200,000 audit events (two per pairing, as pairings write them), 100,000 bookings with their
outbox messages and attempts, and 100,000 webhook deliveries (one in ten flagged), then
requests every list and search page of the console as a signed-in admin and reports the
95th-percentile time of each.
The target is under 200 ms. Results go to docs/admin-performance.md.

    python bench/admin_lists.py                          # a throwaway SQLite file
    python bench/admin_lists.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench_admin
    python bench/admin_lists.py --database-url ... --write docs/admin-performance.md
    python bench/admin_lists.py --scale 0.01 --samples 2  # a quick check that it still runs

The database must be empty (or not exist, for SQLite): the seed is deterministic (random
seeded with 3), so two runs measure the same data.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from flask_migrate import upgrade
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from oidc_provider import create_app  # noqa: E402
from oidc_provider.core.extensions import db  # noqa: E402
from oidc_provider.core.models import (  # noqa: E402
    Account,
    Admin,
    AuditEvent,
    Booking,
    Client,
    OutboxAttempt,
    OutboxMessage,
    Pairing,
    Profile,
    TenantUser,
    WebhookDelivery,
    user_accounts,
)
from oidc_provider.web.sessions import SEEN_KEY, STARTED_KEY, VERSION_KEY  # noqa: E402

ACCOUNTS = 10_000
USERS = 5_000
PAIRINGS = 100_000
BOOKINGS = 100_000
DELIVERIES = 100_000
# A booking's outcome: most delivered, some refused, a few queued or given up.
BOOKING_STATES = ("delivered",) * 90 + ("failed",) * 5 + ("pending",) * 3 + ("discarded",) * 2
DELIVERY_STATES = ("stored",) * 90 + ("invalid",) * 4 + ("unknown_booking",) * 4 + ("not_json",) * 2
BATCH = 10_000
SAMPLES = 40
WARMUP = 3
TARGET_MS = 200
START = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ("COMPLETED",) * 8 + ("DECLINED", "PROCESSING")
WORDS = ("HVAC", "Plumbing", "Electric", "Roofing", "Heating", "Cooling", "Drains", "Solar", "Pest", "Garage")


def seed(
    rng: random.Random,
    accounts_count: int,
    users_count: int,
    pairings_count: int,
    bookings_count: int,
    deliveries_count: int,
) -> None:
    def batched(table, rows):
        for start in range(0, len(rows), BATCH):
            db.session.execute(insert(table), rows[start : start + BATCH])

    admin = Admin(email="bench@partner.example", password_hash="$argon2id$not-used", session_version=0)
    clients = [
        Client(
            client_id=f"bench-client-{n}",
            name=f"ServiceTitan {name}",
            secret_hash="0" * 64,
            redirect_uris=["https://servicetitan.example/callback"],
            scope="openid profile email",
            id_token_alg="RS256",
            account_info_claim=False,
            async_pairing=name == "sandbox",
            remember_consent=True,
            default_response_mode="form_post",
            enabled=True,
            created_at=START,
            multi_account_support=False,
        )
        for n, name in enumerate(("production", "sandbox"))
    ]
    db.session.add_all([admin, *clients])
    db.session.flush()
    accounts = [
        {"id": f"acct-{n:05d}", "name": f"{rng.choice(WORDS)} {rng.choice(WORDS)} {n}", "eligible": n % 50 != 0}
        for n in range(accounts_count)
    ]
    batched(Account.__table__, accounts)
    batched(
        Profile.__table__,
        [{"id": f"p-{n:05d}", "account_id": a["id"], "name": "Main", "position": 0} for n, a in enumerate(accounts)],
    )
    users = [
        {
            "id": n + 1,
            "subject": f"00000000-0000-4000-8000-{n:012d}",
            "email": f"user{n:05d}@tenant{n % 700}.example",
            "name": f"User {n}",
            "password_hash": "$argon2id$not-used",
        }
        for n in range(users_count)
    ]
    batched(TenantUser.__table__, users)
    batched(
        user_accounts,
        [
            {"user_id": n + 1, "account_id": accounts[(n * 2 + k) % accounts_count]["id"]}
            for n in range(users_count)
            for k in range(2)
        ],
    )
    pairings, events = [], []
    for n in range(pairings_count):
        user = rng.randrange(users_count)
        account = accounts[(user * 2 + rng.randrange(2)) % accounts_count]["id"]
        at = START + timedelta(minutes=5 * n)
        status = rng.choice(STATUSES)
        client = clients[1 if status == "PROCESSING" else rng.randrange(2)]
        request_id = f"{rng.getrandbits(128):032x}"
        pairings.append(
            {
                "environment": "sandbox",
                "client_pk": client.id,
                "user_id": user + 1,
                "account_id": account,
                "request_id": request_id,
                "status": status,
                "created_at": at,
                "updated_at": at,
            }
        )
        detail = {"client_id": client.client_id, "account_id": account, "status": status}
        events.append({"at": at, "kind": "pairing_created", "actor": users[user]["email"], "detail": detail})
        events.append(
            {
                "at": at,
                "kind": "pairing_request_id_bound",
                "actor": users[user]["email"],
                "detail": {**detail, "request_id": request_id},
            }
        )
    batched(Pairing.__table__, pairings)
    batched(AuditEvent.__table__, events)
    seed_bookings(rng, accounts, bookings_count, batched)
    seed_deliveries(rng, deliveries_count, batched)
    db.session.commit()


def seed_bookings(rng: random.Random, accounts: list[dict], count: int, batched) -> None:
    """Bookings with their outbox messages (ids shared, 1..count) and one attempt each."""
    messages, rows, attempts = [], [], []
    for n in range(1, count + 1):
        account = accounts[rng.randrange(len(accounts))]["id"]
        at = START + timedelta(minutes=5 * n)
        state = rng.choice(BOOKING_STATES)
        partner_booking_id = f"bk-{n:06d}"
        error = (
            {
                "code": 11102,
                "name": "IntegrationDisabled",
                "message": "Integration is disabled",
                "status": 403,
                "stTraceId": f"{rng.getrandbits(64):016x}",
                "errors": [],
            }
            if state == "failed"
            else None
        )
        payload = {
            "idempotencyToken": f"tok-{n:06d}",
            "partnerBookingId": partner_booking_id,
            "slot": {"accountId": account, "profileId": "p-" + account[5:], "serviceId": "hvac-repair"},
            "userInformation": {"givenName": "Jane", "familyName": "Doe", "address": {"streetAddress": "1 Main St"}},
            "description": "Furnace repair",
        }
        messages.append(
            {
                "id": n,
                "kind": "booking",
                "environment": "production",
                "ordering_key": f"booking:production:{partner_booking_id}",
                "payload": payload,
                "idempotency_token": payload["idempotencyToken"],
                "state": state,
                "attempts": 0 if state == "pending" else 1,
                "next_attempt_at": at,
                "outcome_unknown": state == "pending" and n % 2 == 0,
                "last_error": error,
                "created_at": at,
                "finished_at": None if state == "pending" else at,
            }
        )
        rows.append(
            {
                "id": n,
                "partner_booking_id": partner_booking_id,
                "environment": "production",
                "account_id": account,
                "profile_id": "p-" + account[5:],
                "service_id": "hvac-repair",
                "created_at": at,
                "message_id": n,
            }
        )
        if state != "pending":
            attempts.append(
                {
                    "message_id": n,
                    "number": 1,
                    "at": at,
                    "idempotency_token": payload["idempotencyToken"],
                    "outcome": "failed" if state == "failed" else "delivered",
                    "error": error,
                }
            )
    batched(OutboxMessage.__table__, messages)
    batched(Booking.__table__, rows)
    batched(OutboxAttempt.__table__, attempts)
    if db.engine.dialect.name == "postgresql":
        # Rows written with their ids: move the sequences past them.
        for table in ("outbox_messages", "bookings"):
            db.session.execute(db.text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))


def seed_deliveries(rng: random.Random, count: int, batched) -> None:
    deliveries = []
    for n in range(count):
        state = rng.choice(DELIVERY_STATES)
        topic = "accounts" if state == "not_json" else "leads/accepted"
        problems = {
            "invalid": ["timestamp must be Unix seconds"],
            "unknown_booking": ["no booking we sent has this partnerBookingId"],
            "not_json": ["the body is not JSON: Expecting value: line 1 column 1 (char 0)"],
        }.get(state, [])
        body = b"<html>" if state == "not_json" else f'{{"partnerBookingId": "bk-{n:06d}"}}'.encode()
        deliveries.append(
            {
                "topic": topic,
                "received_at": START + timedelta(minutes=5 * n),
                "headers": {"Content-Type": "application/json"},
                "body": body,
                "state": state,
                "problems": problems,
            }
        )
    batched(WebhookDelivery.__table__, deliveries)


def pages(accounts_count: int, pairings_count: int, bookings_count: int) -> list[tuple[str, str]]:
    """(what, path) for every list and search page."""
    request_id = db.session.scalar(db.select(Pairing.request_id).order_by(Pairing.id).offset(pairings_count // 2))
    middle = max(1, bookings_count // 2)
    booking_account = db.session.scalar(db.select(Booking.account_id).where(Booking.id == middle))
    flagged = db.session.scalar(db.select(WebhookDelivery.id).where(WebhookDelivery.state == "invalid").limit(1))
    client_id = "bench-client-1"
    return [
        ("Clients", "/admin/clients"),
        ("Accounts", "/admin/accounts"),
        ("Accounts, last page", f"/admin/accounts?page={max(1, accounts_count // 50)}"),
        ("Accounts, search a name", "/admin/accounts?q=roofing+solar"),
        ("Accounts, not eligible", "/admin/accounts?eligible=no"),
        ("Users", "/admin/users"),
        ("Users, search an email", "/admin/users?q=tenant42."),
        ("Pairings", "/admin/pairings"),
        ("Pairings, page 1,000", f"/admin/pairings?page={max(1, pairings_count // 100)}"),
        ("Pairings, PROCESSING", "/admin/pairings?status=PROCESSING"),
        ("Pairings, one client", f"/admin/pairings?client_id={client_id}"),
        ("Pairings, search a request id", f"/admin/pairings?q={request_id}"),
        ("Pairings, search an account name", "/admin/pairings?q=garage+pest"),
        ("Pairings, search an email", "/admin/pairings?q=user04242%40"),
        ("Audit log", "/admin/audit"),
        ("Audit log, one kind", "/admin/audit?kind=pairing_request_id_bound"),
        ("Audit log, search details", f"/admin/audit?q={request_id}"),
        ("Audit log, one actor and a week", "/admin/audit?actor=user01234&since=2026-03-01&until=2026-03-07"),
        ("Job types", "/admin/job-types"),
        ("Overview, with what needs attention", "/admin/"),
        ("Bookings", "/admin/bookings"),
        ("Bookings, page 1,000", f"/admin/bookings?page={max(1, bookings_count // 100)}"),
        ("Bookings, failed", "/admin/bookings?state=failed"),
        ("Bookings, search a partnerBookingId", f"/admin/bookings?q=bk-{middle:06d}"),
        ("Bookings, search an account id", f"/admin/bookings?q={booking_account}"),
        ("Bookings, search an account name", "/admin/bookings?q=garage+pest"),
        ("Bookings, failed in a week", "/admin/bookings?state=failed&since=2026-03-01&until=2026-03-07"),
        ("Bookings, one environment", "/admin/bookings?environment=sandbox"),
        ("A booking", f"/admin/bookings/{middle}"),
        ("Outbox", "/admin/outbox"),
        ("Outbox, failed bookings", "/admin/outbox?view=failed&kind=booking"),
        ("Outbox, unknown outcome", "/admin/outbox?view=unknown"),
        ("Outbox, one environment", "/admin/outbox?environment=sandbox"),
        ("Webhook deliveries, flagged", "/admin/webhooks"),
        ("Webhook deliveries, unknown booking", "/admin/webhooks?state=unknown_booking"),
        ("A webhook delivery", f"/admin/webhooks/{flagged or 1}"),
        ("Admins", "/admin/admins"),
    ]


def measure(web, path: str, samples: int) -> list[float]:
    for _ in range(WARMUP):
        assert web.get(path).status_code == 200, path
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        response = web.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, path
    return times


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="an empty database; default: a new SQLite file")
    parser.add_argument("--write", type=Path, help="replace the results table in this Markdown file")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="a fraction of the data, to check that the script runs (default: all of it)",
    )
    parser.add_argument("--samples", type=int, default=SAMPLES, help=f"measured requests per page (default {SAMPLES})")
    parser.add_argument(
        "--fail-over-target",
        action="store_true",
        help=f"exit 1 when a page's 95th percentile is {TARGET_MS} ms or more",
    )
    args = parser.parse_args()
    accounts_count, users_count, pairings_count, bookings_count, deliveries_count = (
        max(2, int(n * args.scale)) for n in (ACCOUNTS, USERS, PAIRINGS, BOOKINGS, DELIVERIES)
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-admin-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.sqlite'}"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "ISSUER": "http://127.0.0.1:5000",
            "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
            "ADMIN_IDLE_TIMEOUT": 3600,
            "ADMIN_SESSION_LIFETIME": 24 * 3600,
        }
    )
    app.instance_path = str(folder)
    rng = random.Random(3)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        started = time.perf_counter()
        seed(rng, accounts_count, users_count, pairings_count, bookings_count, deliveries_count)
        if db.engine.dialect.name == "postgresql":
            # What autovacuum does soon after a bulk load: without statistics the planner guesses.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("ANALYZE")
        print(f"seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        targets = pages(accounts_count, pairings_count, bookings_count)
        admin_id = db.session.scalar(db.select(Admin.id))
    web = app.test_client()
    with web.session_transaction() as session:
        session["_user_id"] = f"admin:{admin_id}"
        session[VERSION_KEY] = 0
        session[STARTED_KEY] = session[SEEN_KEY] = time.time()
    dialect = url.split(":", 1)[0].split("+")[0]
    rows = []
    for what, path in targets:
        times = measure(web, path, args.samples)
        rows.append((what, path, statistics.median(times), p95(times)))
        print(f"{what:40} median {rows[-1][2]:6.1f} ms  p95 {rows[-1][3]:6.1f} ms", file=sys.stderr)
    table = render(rows, dialect)
    print(table)
    if args.write:
        write(args.write, dialect, table)
    missed = [row for row in rows if row[3] >= TARGET_MS]
    for what, path, _, percentile in missed:
        print(f"over the {TARGET_MS} ms target: {what} ({path}) p95 {percentile:.0f} ms", file=sys.stderr)
    return 1 if missed and args.fail_over_target else 0


def render(rows, dialect: str) -> str:
    lines = [
        f"| Page ({dialect}) | Request | Median (ms) | 95th percentile (ms) |",
        "|---|---|---:|---:|",
    ]
    for what, path, median, percentile in rows:
        lines.append(f"| {what} | `{path}` | {median:.0f} | {percentile:.0f} |")
    return "\n".join(lines)


def write(path: Path, dialect: str, table: str) -> None:
    """Replace the table between this dialect's markers, keeping the rest of the page."""
    begin, end = f"<!-- bench:{dialect}:begin -->", f"<!-- bench:{dialect}:end -->"
    text = path.read_text()
    if begin not in text:
        raise SystemExit(f"{path} has no {begin} marker")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{table}\n{end}{tail}")


if __name__ == "__main__":
    sys.exit(main())
