"""The push of each event to the partner's own system through the outbox: the feed's
object, signed as Standard Webhooks (checked here by the independent ``standardwebhooks``
package), retried while the partner is down, never for duplicates."""

from __future__ import annotations

import base64
import random
import re
from pathlib import Path

import pytest
from flask import Flask, request
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError

from oidc_provider import create_app
from oidc_provider.core.extensions import db
from oidc_provider.core.models import OutboxMessage
from oidc_provider.servicetitan import events
from oidc_provider.servicetitan.catalog.webhook_keys import paste
from oidc_provider.servicetitan.forwarding import FORWARD
from oidc_provider.servicetitan.outbox import OutboxWorker
from oidc_provider.web.admin.outbox import subject
from tests.conftest import ENCRYPTION_KEY, LiveServer
from tests.servicetitan.test_webhooks import KEY, add_booking, body

SECRET = "whsec_" + base64.b64encode(b"partner-secret-0123456789abcdef").decode()
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "partner-api-events.md"
NEXT_SECRET = "whsec_" + base64.b64encode(b"the-next-secret-0123456789abcdef").decode()


@pytest.fixture
def partner():
    """The partner's own system: answers what ``answers`` says next (200 when empty)."""
    app = Flask("partner")
    app.received, app.answers = [], []

    @app.post("/events")
    def receive():
        app.received.append({"body": request.get_data(), "headers": dict(request.headers)})
        return "", app.answers.pop(0) if app.answers else 200

    with LiveServer(app) as server:
        app.url = server.url + "/events"
        yield app


@pytest.fixture
def forwarding(clean_app, partner, monkeypatch):
    monkeypatch.setitem(clean_app.config, "WEBHOOK_FORWARD_URL", partner.url)
    monkeypatch.setitem(clean_app.config, "WEBHOOK_FORWARD_SECRET", SECRET)
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


def feed(app) -> list[dict]:
    with app.app_context():
        return events.page(None, 100)[0]


def test_each_event_is_pushed_once_as_the_feed_shows_it_and_signed(clean_app, forwarding):
    document = body("accepted")
    post(clean_app, "accepted", document)
    assert post(clean_app, "accepted", document).json["state"] == "duplicate"  # no event, no push
    assert post(clean_app, "declined", {"not": "valid"}).json["state"] == "invalid"
    run_outbox(clean_app)
    updated, flagged = feed(clean_app)
    assert (updated["type"], flagged["type"]) == ("lead.updated", "webhook.flagged")
    assert updated["data"]["update"] == document and updated["data"]["partnerBookingId"] == "booking-1"
    pushed = []
    for received in forwarding.received:
        headers = received["headers"]
        assert "Authorization" not in headers
        # The independent implementation verifies id, timestamp and signature, and answers the body.
        pushed.append(Webhook(SECRET).verify(received["body"], headers))
        assert headers["Webhook-Id"] == pushed[-1]["id"]
    assert sorted(pushed, key=lambda event: int(event["id"])) == [updated, flagged]
    assert forwards(clean_app) == [("delivered", 1), ("delivered", 1)]


def test_the_guides_standard_library_example_verifies_a_push(clean_app, forwarding, monkeypatch):
    monkeypatch.setitem(clean_app.config, "WEBHOOK_FORWARD_SECRET", f"{SECRET} {NEXT_SECRET}")
    post(clean_app, "accepted", body("accepted"))
    run_outbox(clean_app)
    [received] = forwarding.received
    [example] = re.findall(r"^```python\n(.*?)^```", GUIDE.read_text(), re.DOTALL | re.MULTILINE)
    namespace: dict = {}
    exec(example, namespace)  # noqa: S102 - the guide's own code, run as a reader would
    for secret in (SECRET, NEXT_SECRET):
        assert namespace["verify"](secret, received["headers"], received["body"]) == feed(clean_app)[0]
    with pytest.raises(ValueError, match="no valid signature"):
        namespace["verify"](SECRET, received["headers"], received["body"] + b" ")


def test_a_wrong_secret_or_a_changed_body_fails_verification(clean_app, forwarding):
    post(clean_app, "accepted", body("accepted"))
    run_outbox(clean_app)
    [received] = forwarding.received
    with pytest.raises(WebhookVerificationError):
        Webhook(NEXT_SECRET).verify(received["body"], received["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(received["body"].replace(b"booking-1", b"booking-2"), received["headers"])


def test_during_a_rotation_each_push_carries_both_signatures(clean_app, forwarding, monkeypatch):
    monkeypatch.setitem(clean_app.config, "WEBHOOK_FORWARD_SECRET", f"{SECRET} {NEXT_SECRET}")
    post(clean_app, "accepted", body("accepted"))
    run_outbox(clean_app)
    [received] = forwarding.received
    assert len(received["headers"]["Webhook-Signature"].split()) == 2
    for secret in (SECRET, NEXT_SECRET):  # a receiver on either secret accepts it
        assert Webhook(secret).verify(received["body"], received["headers"])["type"] == "lead.updated"


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
    ids = {received["headers"]["Webhook-Id"] for received in forwarding.received}
    assert len(forwarding.received) == 3 and ids == {feed(clean_app)[0]["id"]}  # one id: de-duplicable


def test_a_refusal_is_final_and_shown(clean_app, forwarding):
    forwarding.answers.append(400)
    post(clean_app, "accepted", body("accepted"))
    run_outbox(clean_app)
    assert forwards(clean_app) == [("failed", 1)]
    with clean_app.app_context():
        [message] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == FORWARD)).all()
        assert message.last_error["message"] == "the partner's system answered HTTP 400"
        assert subject(message) == f"event {message.payload['id']} (lead.updated)"  # the console's words


def test_nothing_is_pushed_without_a_url(clean_app):
    with clean_app.app_context():
        paste(KEY, "test")
    post(clean_app, "accepted", body("accepted", partner_booking_id="unknown"))
    assert forwards(clean_app) == []
    assert [event["type"] for event in feed(clean_app)] == ["lead.updated", "webhook.flagged"]


def settings_refusal(tmp_path, **settings) -> str:
    with pytest.raises(SystemExit) as stopped:
        create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}",
                "SECRET_KEY": "test-secret-key",
                "ENCRYPTION_KEYS": [ENCRYPTION_KEY],
                **settings,
            }
        )
    return str(stopped.value)


def test_the_retired_token_refuses_start_and_names_its_replacement(tmp_path, monkeypatch):
    monkeypatch.setenv("OIDC_PROVIDER_WEBHOOK_FORWARD_TOKEN", "partner-token")
    message = settings_refusal(tmp_path)
    assert "OIDC_PROVIDER_WEBHOOK_FORWARD_TOKEN is retired" in message
    assert "OIDC_PROVIDER_WEBHOOK_FORWARD_SECRET" in message and "partner-token" not in message


@pytest.mark.parametrize(
    "settings",
    [
        {"WEBHOOK_FORWARD_URL": "https://partner.example/events"},
        {"WEBHOOK_FORWARD_SECRET": "not-whsec"},
        {"WEBHOOK_FORWARD_SECRET": "whsec_c2hvcnQ="},  # 5 bytes
        {"WEBHOOK_FORWARD_SECRET": f"{SECRET} {NEXT_SECRET} {SECRET}"},
    ],
    ids=["url-without-secret", "no-prefix", "too-short", "three"],
)
def test_a_missing_or_malformed_secret_refuses_start_without_repeating_it(tmp_path, settings):
    message = settings_refusal(tmp_path, **settings)
    assert "OIDC_PROVIDER_WEBHOOK_FORWARD_SECRET" in message
    assert "not-whsec" not in message and SECRET not in message
