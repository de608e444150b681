"""Forwarding stored webhook events to the partner's own system through the outbox: sent
after the delivery is kept, retried while the partner is down, never for duplicates."""

from __future__ import annotations

import random

import pytest
from flask import Flask, request
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import OutboxMessage
from oidc_provider.servicetitan.catalog.webhook_keys import paste
from oidc_provider.servicetitan.forwarding import FORWARD
from oidc_provider.servicetitan.outbox import OutboxWorker
from tests.conftest import LiveServer
from tests.servicetitan.test_webhooks import KEY, add_booking, body


@pytest.fixture
def partner():
    """The partner's own system: answers what ``answers`` says next (200 when empty)."""
    app = Flask("partner")
    app.received, app.answers = [], []

    @app.post("/events")
    def events():
        app.received.append({"json": request.get_json(), "authorization": request.headers.get("Authorization")})
        return "", app.answers.pop(0) if app.answers else 200

    with LiveServer(app) as server:
        app.url = server.url + "/events"
        yield app


@pytest.fixture
def forwarding(clean_app, partner, monkeypatch):
    monkeypatch.setitem(clean_app.config, "WEBHOOK_FORWARD_URL", partner.url)
    monkeypatch.setitem(clean_app.config, "WEBHOOK_FORWARD_TOKEN", "partner-token")
    with clean_app.app_context():
        paste(KEY, "test")
    add_booking(clean_app)
    return partner


def post(app, event, document):
    return app.test_client().post(
        f"/servicetitan/webhooks/leads/{event}", json=document, headers={"X-STLeads-Token": KEY}
    )


def run_outbox(app) -> int:
    return OutboxWorker(app, rng=random.Random(1)).run_once()


def forwards(app) -> list[tuple[str, int]]:
    with app.app_context():
        return [
            (m.state, m.attempts)
            for m in db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == FORWARD).order_by(OutboxMessage.id)
            )
        ]


def test_a_stored_event_is_forwarded_once_and_a_duplicate_not(clean_app, forwarding):
    document = body("accepted")
    first = post(clean_app, "accepted", document)
    assert post(clean_app, "accepted", document).json["state"] == "duplicate"
    assert post(clean_app, "declined", {"not": "valid"}).json["state"] == "invalid"
    run_outbox(clean_app)
    [received] = forwarding.received
    assert received["authorization"] == "Bearer partner-token"
    assert received["json"]["deliveryId"] == first.json["deliveryId"]
    assert received["json"]["topic"] == "leads/accepted" and received["json"]["event"] == document
    assert forwards(clean_app) == [("delivered", 1)]


def test_a_partner_that_is_down_gets_the_event_later(clean_app, forwarding, frozen_clock):
    forwarding.answers.extend([503, 429])
    post(clean_app, "invoiced", body("invoiced"))
    run_outbox(clean_app)
    assert forwards(clean_app) == [("pending", 1)]
    frozen_clock.advance(3600)
    run_outbox(clean_app)
    frozen_clock.advance(3600)
    run_outbox(clean_app)
    assert forwards(clean_app) == [("delivered", 3)]
    assert len(forwarding.received) == 3


def test_a_refusal_is_final_and_shown(clean_app, forwarding):
    forwarding.answers.append(400)
    post(clean_app, "accepted", body("accepted"))
    run_outbox(clean_app)
    assert forwards(clean_app) == [("failed", 1)]
    with clean_app.app_context():
        [message] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == FORWARD)).all()
        assert message.last_error["message"] == "the partner's system answered HTTP 400"


def test_nothing_is_forwarded_without_a_url(clean_app):
    with clean_app.app_context():
        paste(KEY, "test")
    post(clean_app, "accepted", body("accepted", partner_booking_id="unknown"))
    assert forwards(clean_app) == []
