"""The console's operations pages: bookings (search, filters, a booking's attempts and
lead timeline, personal data opened on request and audited, resend and discard), the
outbox by kind, flagged webhook deliveries judged again, and the overview's attention list."""

from __future__ import annotations

import random
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent, Booking, JobType, OutboxMessage, SigningKey, WebhookDelivery
from oidc_provider.oidc.keys import create_key
from oidc_provider.servicetitan import bookings, outbox, webhooks
from oidc_provider.servicetitan.outbox import OutboxWorker
from tests.console import sample_booking


@pytest.fixture
def sandbox(clean_app, make, st_sandbox):
    make.directory()
    make.servicetitan(st_sandbox.url)
    with clean_app.app_context():
        db.session.add(JobType(category="HVAC", partner_key="hvac-repair", position=1))
        db.session.commit()
    st_sandbox.state.pair_account(
        {"id": "acct-hvac", "name": "MTech HVAC", "profiles": [{"id": "p-north", "name": "North"}]}
    )
    return st_sandbox


def send(app) -> None:
    OutboxWorker(app, rng=random.Random(1)).run_once()


def submit(app, partner_booking_id: str) -> int:
    with app.app_context():
        return bookings.submit_booking(sample_booking(partner_booking_id)).id


def kinds(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)))


def test_a_refused_booking_shows_servicetitans_answer_and_is_resent_with_a_new_token(clean_app, console, sandbox):
    sandbox.state.disable_account("acct-hvac")
    booking_id = submit(clean_app, "bk-refused")
    send(clean_app)

    listed = console.get("/admin/bookings?state=failed")
    assert "bk-refused" in listed.text and "IntegrationDisabled 11102" in listed.text
    page = console.get(f"/admin/bookings/{booking_id}")
    assert page.status_code == 200
    for shown in ("IntegrationDisabled", "11102", "Integration is disabled", "tok-bk-refused"):
        assert shown in page.text
    assert "Jane" not in page.text and "1 Main St" not in page.text  # personal data hidden

    asked = console.post(f"/admin/bookings/{booking_id}/resend")
    assert "with a new idempotency token" in asked.text
    with clean_app.app_context():
        assert db.session.get(Booking, booking_id).message.state == outbox.FAILED

    sandbox.state.disable_account("acct-hvac", False)
    assert console.post(f"/admin/bookings/{booking_id}/resend", {"confirmed": "yes"}).status_code == 302
    send(clean_app)
    page = console.get(f"/admin/bookings/{booking_id}")
    with clean_app.app_context():
        message = db.session.get(Booking, booking_id).message
        assert message.state == outbox.DELIVERED
        assert message.idempotency_token != "tok-bk-refused"
        assert [(a.number, a.outcome, a.idempotency_token == "tok-bk-refused") for a in message.attempt_log] == [
            (1, "failed", True),
            (1, "delivered", False),
        ]
    assert message.idempotency_token in page.text
    assert kinds(clean_app)[-1] == "outbox_resent"


def test_personal_data_is_shown_on_request_and_the_opening_is_audited(clean_app, console, sandbox):
    booking_id = submit(clean_app, "bk-private")

    shown = console.post(f"/admin/bookings/{booking_id}/personal-data")

    assert shown.status_code == 200
    assert "Jane" in shown.text and "1 Main St" in shown.text
    with clean_app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "booking_personal_data_viewed")).one()
        assert event.actor == "admin@partner.example"
        assert event.detail["partnerBookingId"] == "bk-private"
    assert "Jane" not in console.get(f"/admin/bookings/{booking_id}").text


def test_bookings_are_searched_filtered_and_paged_newest_first(clean_app, console, sandbox, monkeypatch):
    monkeypatch.setitem(clean_app.config, "ADMIN_PAGE_SIZE", 2)
    for number in range(3):
        submit(clean_app, f"bk-{number}")
    with clean_app.app_context():
        old = db.session.scalar(select(Booking).where(Booking.partner_booking_id == "bk-0"))
        old.created_at = clock.now() - timedelta(days=10)
        db.session.commit()

    first = console.get("/admin/bookings").text
    assert first.index("bk-2") < first.index("bk-1") and "bk-0" not in first and "Next page" in first
    assert "bk-0" in console.get("/admin/bookings?page=2").text
    assert re.findall(r"<code>(bk-\d)</code>", console.get("/admin/bookings?q=bk-1").text) == ["bk-1"]
    by_account = console.get("/admin/bookings?q=MTech+HVAC").text
    assert "bk-2" in by_account and "bk-1" in by_account
    since = (clock.now() - timedelta(days=1)).strftime("%Y-%m-%d")
    assert "bk-0" not in console.get(f"/admin/bookings?since={since}&page=1").text
    assert console.get("/admin/bookings?since=yesterday").status_code == 422
    assert "bk-" not in console.get("/admin/bookings?state=delivered").text


def test_the_outbox_lists_what_needs_attention_by_kind_and_discards_after_asking(clean_app, console, sandbox):
    sandbox.state.disable_account("acct-hvac")
    submit(clean_app, "bk-failed")
    send(clean_app)
    submit(clean_app, "bk-queued")
    with clean_app.app_context():
        failed = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.state == outbox.FAILED))
        unknown = outbox.enqueue_account_status("sandbox", "req-unknown", "DECLINED")
        unknown.outcome_unknown = True
        unknown.next_attempt_at = clock.now() + timedelta(hours=1)
        db.session.commit()

    page = console.get("/admin/outbox").text
    for shown in ("booking bk-failed", "booking bk-queued", "DECLINED for request req-unknown", "Outcome unknown"):
        assert shown in page
    assert 'aria-label="1 failed booking messages"' in page
    only_failed = console.get("/admin/outbox?view=failed").text
    assert "bk-failed" in only_failed and "bk-queued" not in only_failed
    assert "req-unknown" not in console.get("/admin/outbox?kind=booking").text

    asked = console.post(f"/admin/outbox/{failed}/discard")
    assert "Discard message" in asked.text and 'href="/admin/outbox" autofocus' in asked.text
    with clean_app.app_context():
        assert db.session.get(OutboxMessage, failed).state == outbox.FAILED
    assert console.post(f"/admin/outbox/{failed}/discard", {"confirmed": "yes"}).status_code == 302
    with clean_app.app_context():
        assert db.session.get(OutboxMessage, failed).state == outbox.DISCARDED
    again = console.post(f"/admin/outbox/{failed}/discard", {"confirmed": "yes"})
    assert again.status_code == 409 and "discarded already" in again.text


def test_flagged_deliveries_show_and_filter_their_environment(clean_app, console):
    with clean_app.app_context():
        ids = {
            environment: webhooks.receive("accounts", {}, b"not json", environment).delivery_id
            for environment in ("production", "sandbox")
        }

    listed = console.get("/admin/webhooks").text
    assert '<td data-label="Environment">Production</td>' in listed
    assert '<td data-label="Environment">Sandbox</td>' in listed
    only_sandbox = console.get("/admin/webhooks?environment=sandbox").text
    assert f"#{ids['sandbox']}<" in only_sandbox and f"#{ids['production']}<" not in only_sandbox
    assert '<option value="sandbox" selected>' in only_sandbox
    assert "at the sandbox environment's URL" in console.get(f"/admin/webhooks/{ids['sandbox']}").text
    assert console.get("/admin/webhooks?environment=moon").status_code == 200


def test_a_flagged_delivery_is_judged_again_once_its_booking_exists(clean_app, console, sandbox):
    with clean_app.app_context():
        body = (
            b'{"partnerBookingId": "bk-later", "accountId": "acct-hvac", "profileId": "p-north",'
            b' "statusUpdateId": "su-1", "status": "Accepted", "timestamp": 1700000000,'
            b' "eventData": {"acceptedTimestamp": 1700000000, "leadDeliveredTimestamp": 1699990000,'
            b' "note": "<script>alert(1)</script>"}}'
        )
        delivery_id = webhooks.receive("leads/accepted", {}, body, "sandbox").delivery_id

    listed = console.get("/admin/webhooks").text
    assert f"#{delivery_id}" in listed and "no booking we sent has this partnerBookingId" in listed
    page = console.get(f"/admin/webhooks/{delivery_id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page

    still = console.post(f"/admin/webhooks/{delivery_id}/judge")
    assert "still flagged" in console.get(still.headers["Location"]).text

    booking_id = submit(clean_app, "bk-later")
    judged = console.post(f"/admin/webhooks/{delivery_id}/judge")
    assert "Judged again: recorded." in console.get(judged.headers["Location"]).text
    with clean_app.app_context():
        assert db.session.get(WebhookDelivery, delivery_id).state == "stored"
    assert "Accepted" in console.get(f"/admin/bookings/{booking_id}").text  # the lead timeline
    assert f"#{delivery_id}" not in console.get("/admin/webhooks").text
    assert console.post(f"/admin/webhooks/{delivery_id}/judge").status_code == 409


def test_a_body_that_is_not_utf8_is_shown_escaped(clean_app, console):
    with clean_app.app_context():
        delivery_id = webhooks.receive("accounts", {}, b"\xff\xfe<b>").delivery_id

    page = console.get(f"/admin/webhooks/{delivery_id}").text

    assert "\\xff\\xfe&lt;b&gt;" in page


def test_the_overview_says_what_needs_attention(clean_app, console, sandbox, fresh_signing_keys):
    assert "Nothing: no failed message" in console.get("/admin/").text
    sandbox.state.disable_account("acct-hvac")
    submit(clean_app, "bk-failed")
    send(clean_app)
    with clean_app.app_context():
        webhooks.receive("accounts", {}, b"not json")
        old_kid = create_key("RS256", clock.now() - timedelta(days=200)).kid
        db.session.commit()
        for key in db.session.scalars(select(SigningKey).where(SigningKey.kid != old_kid, SigningKey.alg == "RS256")):
            key.retired_at = clock.now()
        db.session.commit()

    page = console.get("/admin/").text

    assert '<a href="/admin/outbox?view=failed">1 failed message in the outbox</a>' in page
    assert '<a href="/admin/webhooks">1 flagged webhook delivery</a>' in page
    assert f"Signing key {old_kid} (RS256) is due for rotation" in page
