"""The outbox against the sandbox on loopback: written in the caller's transaction, sent
at least once with one effect, retried on a controlled clock (never slept out), 4xx
recorded and not retried, in order per pairing request, never sent twice at once."""

from __future__ import annotations

import json
import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Account, AuditEvent, OutboxMessage
from oidc_provider.servicetitan import outbox
from oidc_provider.servicetitan.leads_api import ACCOUNTS_PATH, BOOKINGS_PATH
from oidc_provider.servicetitan.outbox import OutboxWorker, enqueue_account_status, enqueue_booking, retry_delay
from tests.conftest import build_app

ACCOUNT = {
    "id": "acct-hvac",
    "name": "MTech HVAC",
    "profiles": [{"id": "p-north", "name": "North"}, {"id": "p-south", "name": "South"}],
}


@pytest.fixture
def sandbox(make, st_sandbox):
    """The standard directory; the product's "sandbox" environment is the sandbox server."""
    make.directory()
    make.servicetitan(st_sandbox.url)
    return st_sandbox


def worker(app, name="w1", seed=1) -> OutboxWorker:
    return OutboxWorker(app, name=name, rng=random.Random(seed))


def queue_status(app, request_id: str, status: str, account_id: str | None = None) -> int:
    with app.app_context():
        account = db.session.get(Account, account_id) if account_id else None
        message = enqueue_account_status("sandbox", request_id, status, account)
        db.session.commit()
        return message.id


def booking(number: int = 1, account: str = "acct-hvac", profile: str = "p-north") -> dict:
    return {
        "idempotencyToken": f"token-{number}",
        "partnerBookingId": f"booking-{number}",
        "slot": {"accountId": account, "profileId": profile, "serviceId": "find_and_repair_leak"},
        "userInformation": {"address": {"streetAddress": f"{number} Main St"}},
    }


def queue_booking(app, document: dict) -> int:
    with app.app_context():
        message = enqueue_booking("sandbox", document)
        db.session.commit()
        return message.id


def message(app, message_id: int) -> dict:
    with app.app_context():
        row = db.session.get(OutboxMessage, message_id)
        return {
            **outbox.summary(row),
            "outcome_unknown": row.outcome_unknown,
            "claimed_by": row.claimed_by,
            "next_attempt": row.next_attempt_at,
            "payload": row.payload,
        }


def applied(sandbox, path=ACCOUNTS_PATH) -> list[dict]:
    return [a.body for a in sandbox.state.applied if a.path == path]


# -- writing ------------------------------------------------------------------------------


def test_a_message_exists_only_when_its_transaction_commits(clean_app, make, frozen_clock):
    make.directory()
    with clean_app.app_context():
        enqueue_account_status("sandbox", "r-1", "PROCESSING")
        db.session.rollback()
        assert db.session.scalar(select(db.func.count()).select_from(OutboxMessage)) == 0
        enqueue_account_status("sandbox", "r-1", "COMPLETED", db.session.get(Account, "acct-hvac"))
        db.session.commit()
        [row] = db.session.scalars(select(OutboxMessage))
        assert (row.kind, row.state, row.attempts, row.next_attempt_at) == (
            "account_status",
            "pending",
            0,
            frozen_clock.now(),
        )
        assert row.payload == {"requestId": "r-1", "status": "COMPLETED", "account": ACCOUNT}
        assert outbox.pending_count() == 1


# -- sending ------------------------------------------------------------------------------


def test_pairing_calls_are_delivered_in_order(clean_app, sandbox, frozen_clock):
    request_id = sandbox.state.create_request("custom").request_id
    first = queue_status(clean_app, request_id, "PROCESSING")
    second = queue_status(clean_app, request_id, "COMPLETED", "acct-hvac")

    assert worker(clean_app).run_once() == 2

    assert applied(sandbox) == [
        {"requestId": request_id, "status": "PROCESSING"},
        {"requestId": request_id, "status": "COMPLETED", "account": ACCOUNT},
    ]
    for message_id in (first, second):
        assert message(clean_app, message_id)["state"] == "delivered"
        assert message(clean_app, message_id)["attempts"] == 1
    assert sandbox.state.requests[request_id].status == "COMPLETED"


def test_a_5xx_is_retried_with_backoff_on_the_clock(clean_app, sandbox, frozen_clock):
    request_id = sandbox.state.create_request("custom").request_id
    sandbox.state.inject(ACCOUNTS_PATH, "error", status=503, times=2)
    message_id = queue_status(clean_app, request_id, "PROCESSING")
    jitter = random.Random(7)
    sender = worker(clean_app, seed=7)

    assert sender.run_once() == 1
    first = message(clean_app, message_id)
    assert (first["state"], first["attempts"], first["lastError"]["name"], first["lastError"]["status"]) == (
        "pending",
        1,
        "ServerError",
        503,
    )
    first_delay = jitter.uniform(2.5, 5)  # OUTBOX_RETRY_BASE 5 s, between half and all of it
    assert first["next_attempt"] == frozen_clock.now() + timedelta(seconds=first_delay)

    frozen_clock.advance(first_delay - 0.01)
    assert sender.run_once() == 0  # not due yet
    frozen_clock.advance(0.01)
    assert sender.run_once() == 1
    second = message(clean_app, message_id)
    assert second["attempts"] == 2
    second_delay = jitter.uniform(5, 10)  # doubled
    assert second["next_attempt"] == frozen_clock.now() + timedelta(seconds=second_delay)

    frozen_clock.advance(second_delay)
    assert sender.run_once() == 1
    assert message(clean_app, message_id)["state"] == "delivered"
    assert applied(sandbox) == [{"requestId": request_id, "status": "PROCESSING"}]


def test_the_delay_doubles_up_to_its_cap(clean_app):
    rng = random.Random(3)
    with clean_app.app_context():
        delays = [retry_delay(attempt, rng) for attempt in range(1, 16)]
    assert 2.5 <= delays[0] <= 5
    assert 5 <= delays[1] <= 10
    assert 1800 <= delays[-1] <= 3600  # OUTBOX_RETRY_MAX
    assert len(set(delays)) == len(delays)  # jitter


def test_a_later_call_waits_while_an_earlier_one_of_its_request_is_open(clean_app, sandbox, frozen_clock):
    request_id = sandbox.state.create_request("custom").request_id
    sandbox.state.pair_account({"id": "acct-other", "name": "Other", "profiles": [{"id": "p-x", "name": "X"}]})
    sandbox.state.inject(ACCOUNTS_PATH, "error", status=502)
    processing = queue_status(clean_app, request_id, "PROCESSING")
    completed = queue_status(clean_app, request_id, "COMPLETED", "acct-hvac")
    other = queue_booking(clean_app, booking(1, "acct-other", "p-x"))

    assert worker(clean_app).run_once() == 2  # PROCESSING (refused by the 502) and the booking

    assert message(clean_app, completed)["attempts"] == 0
    assert message(clean_app, other)["state"] == "delivered"
    frozen_clock.advance(3600)
    assert worker(clean_app).run_once() == 2
    assert [m["status"] for m in applied(sandbox)] == ["PROCESSING", "COMPLETED"]
    assert message(clean_app, processing)["state"] == message(clean_app, completed)["state"] == "delivered"


def test_a_4xx_is_recorded_for_admins_and_never_retried(clean_app, sandbox, frozen_clock):
    processing = queue_status(clean_app, "unknown-request", "PROCESSING")
    completed = queue_status(clean_app, "unknown-request", "COMPLETED", "acct-hvac")

    assert worker(clean_app).run_once() == 1

    refused = message(clean_app, processing)
    assert refused["state"] == "failed"
    assert refused["lastError"]["code"] == 15202
    assert refused["lastError"]["name"] == "RequestIdNotFound"
    assert len(refused["lastError"]["stTraceId"]) == 36
    assert message(clean_app, completed)["state"] == "pending"  # held back behind the failure
    frozen_clock.advance(7 * 86400)
    assert worker(clean_app).run_once() == 0
    with clean_app.app_context():
        assert outbox.failed_count() == 1
    assert sandbox.state.applied == []


def test_a_refusal_is_committed_before_the_worker_moves_on(clean_app, sandbox, frozen_clock):
    """Lost with the round (a database blip before the next commit), a refusal would be
    heard again on the resend as a duplicate after an unheard attempt: read as delivery."""
    refused_id = queue_status(clean_app, "unknown-request", "PROCESSING")
    sender = worker(clean_app)
    with clean_app.app_context():
        [claimed] = sender._claim()
        sender._send(claimed)
        db.session.rollback()  # what the round's end does when its next statement fails
    assert message(clean_app, refused_id)["state"] == "failed"


def test_integration_disabled_is_never_retried(clean_app, sandbox, frozen_clock):
    sandbox.state.pair_account(dict(ACCOUNT))
    sandbox.state.disable_account("acct-hvac")
    message_id = queue_booking(clean_app, booking())

    worker(clean_app).run_once()
    frozen_clock.advance(7 * 86400)
    assert worker(clean_app).run_once() == 0

    refused = message(clean_app, message_id)
    assert (refused["state"], refused["attempts"], refused["lastError"]["code"]) == ("failed", 1, 11102)
    assert sandbox.state.applied == []


def lost_processing(app, sandbox):
    request_id = sandbox.state.create_request("custom").request_id
    return queue_status(app, request_id, "PROCESSING"), ACCOUNTS_PATH, 15102


def lost_completed(app, sandbox):
    request_id = sandbox.state.create_request("custom").request_id
    return queue_status(app, request_id, "COMPLETED", "acct-hvac"), ACCOUNTS_PATH, 15302


def lost_declined(app, sandbox):
    request_id = sandbox.state.create_request("custom").request_id
    return queue_status(app, request_id, "DECLINED"), ACCOUNTS_PATH, 15102


def lost_booking(app, sandbox):
    sandbox.state.pair_account(dict(ACCOUNT))
    return queue_booking(app, booking()), BOOKINGS_PATH, 11303


@pytest.mark.parametrize("scenario", [lost_processing, lost_completed, lost_declined, lost_booking])
def test_after_a_lost_response_a_duplicate_answer_means_delivered(clean_app, sandbox, frozen_clock, scenario):
    message_id, path, code = scenario(clean_app, sandbox)
    sandbox.state.inject(path, "lose_response")

    worker(clean_app).run_once()
    unknown = message(clean_app, message_id)
    assert (unknown["state"], unknown["outcome_unknown"], unknown["lastError"]["name"]) == (
        "pending",
        True,
        "TransportError",
    )
    frozen_clock.advance(3600)
    worker(clean_app).run_once()

    delivered = message(clean_app, message_id)
    assert (delivered["state"], delivered["attempts"], delivered["lastError"]["code"]) == ("delivered", 2, code)
    assert delivered["lastError"]["proves"] == "an earlier attempt landed"
    assert len(applied(sandbox, path)) == 1


class WorkerDied(BaseException):
    """The process ended (SIGKILL, a crash) between the call and the record of its answer."""


class DyingWorker(OutboxWorker):
    def _finish(self, *args, **kwargs):
        raise WorkerDied


@pytest.mark.parametrize("scenario", [lost_processing, lost_completed, lost_declined, lost_booking])
def test_after_a_worker_died_mid_call_the_takeover_reads_a_duplicate_as_delivered(
    clean_app, sandbox, frozen_clock, scenario
):
    message_id, path, code = scenario(clean_app, sandbox)
    with pytest.raises(WorkerDied):
        DyingWorker(clean_app, name="dead", rng=random.Random(1)).run_once()
    assert len(applied(sandbox, path)) == 1  # it landed; nobody recorded it
    in_flight = message(clean_app, message_id)
    assert (in_flight["state"], in_flight["attempts"], in_flight["outcome_unknown"]) == ("pending", 1, True)

    frozen_clock.advance(clean_app.config["OUTBOX_LEASE"])
    worker(clean_app, "w2").run_once()

    delivered = message(clean_app, message_id)
    assert (delivered["state"], delivered["attempts"], delivered["lastError"]["code"]) == ("delivered", 2, code)
    assert delivered["lastError"]["proves"] == "an earlier attempt landed"
    assert len(applied(sandbox, path)) == 1


def test_an_attempt_whose_answer_was_heard_leaves_the_outcome_known(clean_app, sandbox, frozen_clock):
    """The mark set before the call is taken back once the answer is recorded: a later real
    duplicate is still reported plainly."""
    sandbox.state.pair_account(dict(ACCOUNT))
    sandbox.state.inject(BOOKINGS_PATH, "error", status=429)
    message_id = queue_booking(clean_app, booking())
    worker(clean_app).run_once()
    assert (message(clean_app, message_id)["state"], message(clean_app, message_id)["outcome_unknown"]) == (
        "pending",
        False,
    )


def test_a_real_duplicate_booking_is_reported_plainly(clean_app, sandbox, frozen_clock):
    sandbox.state.pair_account(dict(ACCOUNT))
    sandbox.state.apply_booking({**booking(), "idempotencyToken": "sent-by-someone-else"})
    message_id = queue_booking(clean_app, booking())

    worker(clean_app).run_once()

    refused = message(clean_app, message_id)
    assert (refused["state"], refused["lastError"]["name"], refused["lastError"]["code"]) == (
        "failed",
        "DuplicateBooking",
        11302,
    )


def test_resend_after_a_fix_uses_a_new_idempotency_token(clean_app, sandbox, frozen_clock):
    sandbox.state.pair_account(dict(ACCOUNT))
    sandbox.state.disable_account("acct-hvac")
    message_id = queue_booking(clean_app, booking())
    worker(clean_app).run_once()
    sandbox.state.disable_account("acct-hvac", disabled=False)  # the admin had it enabled

    with clean_app.app_context():
        outbox.resend(db.session.get(OutboxMessage, message_id), "admin@partner.example")
        with pytest.raises(outbox.OutboxConflict, match="only a failed message can be resent"):
            outbox.resend(db.session.get(OutboxMessage, message_id), "admin@partner.example")
    resent = message(clean_app, message_id)
    assert resent["state"] == "pending" and resent["attempts"] == 0
    assert resent["idempotencyToken"] != "token-1"
    assert resent["payload"]["idempotencyToken"] == resent["idempotencyToken"]

    worker(clean_app).run_once()
    assert message(clean_app, message_id)["state"] == "delivered"
    assert [b["idempotencyToken"] for b in applied(sandbox, BOOKINGS_PATH)] == [resent["idempotencyToken"]]
    with clean_app.app_context():
        assert db.session.scalar(select(AuditEvent.kind).where(AuditEvent.kind == "outbox_resent")) == "outbox_resent"


def test_discarding_a_refused_call_lets_the_next_one_go(clean_app, sandbox, frozen_clock):
    request_id = sandbox.state.create_request("custom").request_id
    sandbox.state.inject(ACCOUNTS_PATH, "error", status=400)  # an undocumented refusal
    processing = queue_status(clean_app, request_id, "PROCESSING")
    completed = queue_status(clean_app, request_id, "COMPLETED", "acct-hvac")
    worker(clean_app).run_once()
    assert message(clean_app, processing)["state"] == "failed"

    with clean_app.app_context():
        outbox.discard(db.session.get(OutboxMessage, processing), "admin@partner.example")
    worker(clean_app).run_once()

    assert message(clean_app, processing)["state"] == "discarded"
    assert message(clean_app, completed)["state"] == "delivered"
    assert [m["status"] for m in applied(sandbox)] == ["COMPLETED"]


def test_an_unconfigured_environment_keeps_the_call_and_says_why(clean_app, make, frozen_clock):
    make.directory()
    with clean_app.app_context():
        queued = enqueue_account_status("production", "r-1", "PROCESSING")
        db.session.commit()
        message_id = queued.id

    worker(clean_app).run_once()

    waiting = message(clean_app, message_id)
    assert (waiting["state"], waiting["lastError"]["name"]) == ("pending", "NotConfigured")
    assert (
        "production environment lacks identity_url, api_url, client_id, client_secret"
        in (waiting["lastError"]["message"])
    )


# -- claims -------------------------------------------------------------------------------


def test_a_claimed_message_is_not_claimed_again_until_its_lease_ends(clean_app, sandbox, frozen_clock):
    request_id = sandbox.state.create_request("custom").request_id
    message_id = queue_status(clean_app, request_id, "PROCESSING")
    first, second = worker(clean_app, "w1"), worker(clean_app, "w2")

    with clean_app.app_context():
        [claimed] = first._claim()
        assert claimed.id == message_id
        assert second._claim() == []
        frozen_clock.advance(clean_app.config["OUTBOX_LEASE"])  # w1 died while sending
        [taken_over] = second._claim()
        assert taken_over.id == message_id
        second._send(taken_over)
        assert second._claim() == []  # commits w2's outcome, as its next claim does
        first._finish(claimed, 1, "failed", {"name": "TooLate"})  # w1's late outcome is ignored
        db.session.commit()

    assert message(clean_app, message_id)["state"] == "delivered"
    assert len(applied(sandbox)) == 1


class SideBySideWorker(OutboxWorker):
    """A worker that, in each round, claims once and then waits until the other worker
    has claimed too: the two then really send side by side, whatever the scheduler does."""

    def __init__(self, app, name, seed, barrier: threading.Barrier):
        super().__init__(app, name=name, rng=random.Random(seed))
        self.barrier = barrier
        self.first_claim = True

    def run_once(self) -> int:
        self.first_claim = True
        return super().run_once()

    def _claim(self):
        claimed = super()._claim()
        if self.first_claim:
            self.first_claim = False
            self.barrier.wait(timeout=30)
        return claimed


def run_together(workers: list[OutboxWorker]) -> list[int]:
    attempts = [0] * len(workers)

    def run(index):
        attempts[index] = workers[index].run_once()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return attempts


def test_outage_then_recovery_with_two_workers_and_lost_responses(clean_app, make, st_sandbox, frozen_clock):
    accounts = [
        {"id": f"acct-{i}", "name": f"Account {i}", "profiles": [{"id": f"p-{i}", "name": f"Profile {i}"}]}
        for i in range(5)
    ]
    make.directory(accounts=accounts, users=[])
    make.servicetitan(st_sandbox.url)
    state = st_sandbox.state
    state.pair_account({"id": "acct-booked", "name": "Booked", "profiles": [{"id": "p-booked", "name": "Booked"}]})
    request_ids = [state.create_request("custom").request_id for _ in accounts]
    for request_id, account in zip(request_ids, accounts, strict=False):
        queue_status(clean_app, request_id, "PROCESSING")
        queue_status(clean_app, request_id, "COMPLETED", account["id"])
    for number in range(8):
        queue_booking(clean_app, booking(number, "acct-booked", "p-booked"))
    barrier = threading.Barrier(2)
    workers = [SideBySideWorker(clean_app, "w1", 1, barrier), SideBySideWorker(clean_app, "w2", 2, barrier)]

    # ServiceTitan is down: first its gateway answers 503, then connections drop.
    state.inject("/", "error", status=503, times=None)
    assert sum(run_together(workers)) == 13  # the first call of each request, every booking
    state.clear_faults()
    state.inject("/api/", "drop", times=None)
    frozen_clock.advance(3600)
    assert sum(run_together(workers)) == 13
    assert state.applied == []

    # It is back, but three answers of each kind are lost after the call was applied.
    state.clear_faults()
    state.inject(ACCOUNTS_PATH, "lose_response", times=3)
    state.inject(BOOKINGS_PATH, "lose_response", times=3)
    frozen_clock.advance(3600)  # every retry is due: OUTBOX_RETRY_MAX
    first_round = run_together(workers)
    assert all(first_round), first_round  # both workers sent
    for _ in range(6):
        with clean_app.app_context():
            if outbox.pending_count() == 0:
                break
        frozen_clock.advance(3600)
        run_together(workers)

    bookings = [b["partnerBookingId"] for b in applied(st_sandbox, BOOKINGS_PATH)]
    assert sorted(bookings) == sorted(f"booking-{n}" for n in range(8))  # each exactly once
    for request_id in request_ids:
        statuses = [m["status"] for m in applied(st_sandbox) if m["requestId"] == request_id]
        assert statuses == ["PROCESSING", "COMPLETED"]  # each exactly once, in order
        assert state.requests[request_id].history == ["PROCESSING", "COMPLETED"]
    with clean_app.app_context():
        rows = list(db.session.scalars(select(OutboxMessage)))
        assert {row.state for row in rows} == {"delivered"}
        assert sum(1 for row in rows if (row.last_error or {}).get("proves")) == 6
        assert {row.claimed_by for row in rows} == {None}


def test_the_in_process_worker_sends_as_soon_as_a_message_commits(tmp_path, st_sandbox):
    app = build_app(
        f"sqlite:///{tmp_path / 'in-process.sqlite'}", tmp_path, OUTBOX_IN_PROCESS=True, OUTBOX_POLL_INTERVAL=30
    )
    from tests.factories import Factories

    Factories(app).servicetitan(st_sandbox.url)
    request_id = st_sandbox.state.create_request("custom").request_id
    try:
        assert app.test_client().get("/.well-known/openid-configuration").status_code == 200  # starts it
        queue_status(app, request_id, "PROCESSING")
        done = threading.Event()
        for _ in range(100):  # woken by the commit, long before the 30 s poll interval
            if st_sandbox.state.applied:
                done.set()
                break
            done.wait(0.05)
        assert done.is_set()
        assert applied(st_sandbox) == [{"requestId": request_id, "status": "PROCESSING"}]
    finally:
        outbox.stop_in_process(app)


# -- the command line ---------------------------------------------------------------------


def test_outbox_commands(clean_app, sandbox, runner, frozen_clock):
    sandbox.state.pair_account(dict(ACCOUNT))
    sandbox.state.disable_account("acct-hvac")
    message_id = queue_booking(
        clean_app,
        {**booking(), "userInformation": {"givenName": "Private", "address": {"streetAddress": "1 Secret Lane"}}},
    )

    ran = runner.invoke(args=["outbox", "run", "--once", "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output) == {"attempts": 1}

    listed = runner.invoke(args=["outbox", "list", "--state", "failed", "--json"])
    [row] = json.loads(listed.output)
    assert (row["id"], row["kind"], row["partnerBookingId"], row["lastError"]["name"]) == (
        message_id,
        "booking",
        "booking-1",
        "IntegrationDisabled",
    )
    assert "Secret Lane" not in listed.output and "Private" not in listed.output
    text = runner.invoke(args=["outbox", "list"]).output
    assert f"#{message_id}  booking        failed    attempts 1  booking-1  IntegrationDisabled 11102" in text

    sandbox.state.disable_account("acct-hvac", disabled=False)
    resent = runner.invoke(args=["outbox", "resend", str(message_id)])
    assert resent.exit_code == 0 and f"message #{message_id} queued again" in resent.output
    again = runner.invoke(args=["outbox", "resend", str(message_id)])
    assert again.exit_code == 1 and "only a failed message can be resent" in again.output
    assert runner.invoke(args=["outbox", "run", "--once"]).output.strip() == "1 attempt(s) made"

    gone = runner.invoke(args=["outbox", "discard", "999999"])
    assert gone.exit_code == 1 and "no outbox message #999999" in gone.output
    done = runner.invoke(args=["outbox", "discard", str(message_id)])
    assert done.exit_code == 1 and "is delivered already" in done.output
