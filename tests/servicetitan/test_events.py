"""The partner's event feed: each cause records its event once, in the transaction of the
cause, and a consumer that resumes from its last id sees every later event once, in order,
even when PostgreSQL commits two events in the other order of their ids."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Event
from oidc_provider.servicetitan import events
from oidc_provider.servicetitan.catalog.webhook_keys import paste
from oidc_provider.servicetitan.errors import ServerError, UndocumentedError
from oidc_provider.servicetitan.leads_api import LeadsApiClient
from oidc_provider.servicetitan.outbox import OutboxWorker, enqueue_booking
from tests.servicetitan.test_webhooks import KEY, add_booking, body


def feed(app, after=None, limit=100) -> list[dict]:
    with app.app_context():
        return events.page(after, limit)[0]


def types(app) -> list[str]:
    return [event["type"] for event in feed(app)]


def booking(number: int) -> dict:
    slot = {"accountId": "acct-hvac", "profileId": "p-north", "serviceId": "find_and_repair_leak"}
    return {"idempotencyToken": f"token-{number}", "partnerBookingId": f"booking-{number}", "slot": slot}


def test_each_booking_outcome_is_one_event(clean_app, make, frozen_clock, monkeypatch):
    make.servicetitan("http://127.0.0.1:9")  # never called: the client's answers are scripted
    answers = {"booking-1": [None], "booking-2": [UndocumentedError("no", status=400)]}
    answers["booking-3"] = [ServerError("down", status=503), ServerError("down", status=503), None]

    def send_booking(client, payload):
        if (answer := answers[payload["partnerBookingId"]].pop(0)) is not None:
            raise answer

    monkeypatch.setattr(LeadsApiClient, "send_booking", send_booking)
    with clean_app.app_context():
        for number in (1, 2, 3):
            enqueue_booking("sandbox", booking(number))
        db.session.commit()
    worker = OutboxWorker(clean_app, rng=random.Random(1))
    for _ in range(3):
        worker.run_once()
        frozen_clock.advance(3600)

    outcomes = [(e["type"], e["data"]["partnerBookingId"], e["data"]["attempts"]) for e in feed(clean_app)]
    assert outcomes == [
        ("booking.delivered", "booking-1", 1),
        ("booking.failed", "booking-2", 1),
        ("booking.outcome_unknown", "booking-3", 1),  # once, though the second attempt failed too
        ("booking.delivered", "booking-3", 3),
    ]
    failed = feed(clean_app)[1]["data"]
    assert failed["error"]["message"] == "no" and failed["environment"] == "sandbox"
    assert failed["accountId"] == "acct-hvac" and "userInformation" not in failed


@pytest.fixture
def keyed(clean_app):
    with clean_app.app_context():
        paste(KEY, "test")
    add_booking(clean_app)


def deliver(app, topic, document=None, raw=None):
    return app.test_client().post(
        f"/servicetitan/webhooks/{topic}",
        json=document,
        data=raw,
        headers={"X-STLeads-Token": KEY, **({"Content-Type": "application/json"} if raw else {})},
    )


def test_each_delivery_is_one_event_of_its_kind(clean_app, keyed):
    update = body("accepted")
    delivery_id = deliver(clean_app, "leads/accepted", update).get_json()["deliveryId"]
    deliver(clean_app, "leads/accepted", update)  # a duplicate: no event
    deliver(clean_app, "availabilities", [{"accountId": "acct-hvac", "slots": []}])
    deliver(clean_app, "leads/declined", {"not": "valid"})
    deliver(clean_app, "accounts", raw=b"{not json")
    deliver(clean_app, "leads/invoiced", body("invoiced", partner_booking_id="booking-unknown"))

    got = feed(clean_app)
    assert [e["type"] for e in got] == [
        "lead.updated",
        "servicetitan.update",
        "webhook.flagged",
        "webhook.flagged",
        "lead.updated",
        "webhook.flagged",
    ]
    assert got[0]["data"] == {
        "deliveryId": delivery_id,
        "environment": "production",
        "partnerBookingId": "booking-1",
        "update": update,
    }
    assert got[1]["data"]["topic"] == "availabilities"
    assert got[1]["data"]["payload"] == [{"accountId": "acct-hvac", "slots": []}]
    assert [e["data"]["state"] for e in got if e["type"] == "webhook.flagged"] == [
        "invalid",
        "not_json",
        "unknown_booking",
    ]
    assert {e["data"]["environment"] for e in got if e["type"] == "webhook.flagged"} == {"production"}


def test_a_flagged_sandbox_delivery_says_its_environment(clean_app):
    sandbox_key = "sandbox-" + KEY
    with clean_app.app_context():
        paste(sandbox_key, "test", "sandbox")
    answer = clean_app.test_client().post(
        "/servicetitan/webhooks/sandbox/leads/declined", json={"not": "valid"}, headers={"X-STLeads-Token": sandbox_key}
    )
    assert answer.status_code == 200
    [flagged] = feed(clean_app)
    assert (flagged["type"], flagged["data"]["environment"], flagged["data"]["state"]) == (
        "webhook.flagged",
        "sandbox",
        "invalid",
    )


def record_committed(app, count: int) -> list[str]:
    with app.app_context():
        ids = [events.record("webhook.flagged", {"n": n})["id"] for n in range(count)]
        db.session.commit()
        return ids


def test_a_consumer_that_resumes_from_its_last_id_sees_every_event_once_in_order(clean_app):
    ids = record_committed(clean_app, 7)
    seen, after = [], None
    while True:
        with clean_app.app_context():
            items, following = events.page(after, 3)
        seen += [item["id"] for item in items]
        if following is None:
            break
        after = int(following)
    assert seen == ids
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)
    more = record_committed(clean_app, 2)
    assert [item["id"] for item in feed(clean_app, after=int(seen[-1]))] == more


def test_an_event_rolled_back_leaves_a_gap_that_settles(clean_app, frozen_clock):
    [first] = record_committed(clean_app, 1)
    with clean_app.app_context():
        events.record("webhook.flagged", {"n": "rolled back"})
        db.session.rollback()
    [second] = record_committed(clean_app, 1)
    gap = int(second) - int(first) > 1  # SQLite reuses a rolled back id; PostgreSQL does not
    assert [e["id"] for e in feed(clean_app, after=int(first))] == ([] if gap else [second])
    frozen_clock.advance(events.SETTLE + 1)
    assert [e["id"] for e in feed(clean_app, after=int(first))] == [second]


def test_an_earlier_id_committed_later_is_not_skipped(postgres_app, frozen_clock):
    """PostgreSQL (SQLite lets one writer in at a time, so its ids commit in order): a
    transaction takes id N+1 and commits while the one holding id N has not; the feed waits
    at N, so a consumer never steps over it."""
    clean_app = postgres_app
    with clean_app.app_context():
        engine = db.engine
    [first] = record_committed(clean_app, 1)
    events_table = Event.__table__
    assert isinstance(events_table, Table)
    with Session(engine) as slow:  # another worker's transaction, still open
        slow_id = slow.execute(
            insert(events_table).returning(events_table.c.id),
            {"type": "webhook.flagged", "occurred_at": frozen_clock.now(), "data": {"n": "slow"}},
        ).scalar_one()
        [fast] = record_committed(clean_app, 1)
        assert int(fast) > slow_id
        assert feed(clean_app, after=int(first)) == []
        slow.commit()
    assert [e["id"] for e in feed(clean_app, after=int(first))] == [str(slow_id), fast]
