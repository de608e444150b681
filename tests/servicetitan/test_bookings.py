"""Bookings: refused locally by the partner's configuration and the documents' rules,
stored with their idempotency token and outcome, accepted by the sandbox when valid, and
never written to the logs."""

from __future__ import annotations

import json
import logging
import random

import pytest

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Booking, ExtraDetailParameter, JobType, OutboxMessage
from oidc_provider.core.problems import Problem
from oidc_provider.servicetitan import bookings
from oidc_provider.servicetitan.leads_api import BOOKINGS_PATH
from oidc_provider.servicetitan.outbox import OutboxWorker
from oidc_provider.servicetitan.validation import InvalidPayload

PRIVATE = ("Jane", "Quimby", "(555) 010-4477", "jane.quimby@example.org", "77 Sunset Boulevard", "90029")


def document(number: int = 1, **changes) -> dict:
    booking = {
        "idempotencyToken": f"token-{number}",
        "partnerBookingId": f"booking-{number}",
        "slot": {
            "accountId": "acct-hvac",
            "profileId": "p-north",
            "serviceId": "partner_job_type_1",
            "startSec": 1620744727,
            "durationSec": 3600,
        },
        "userInformation": {
            "givenName": PRIVATE[0],
            "familyName": PRIVATE[1],
            "telephone": PRIVATE[2],
            "email": PRIVATE[3],
            "address": {
                "country": "US",
                "locality": "Los Angeles",
                "region": "CA",
                "postalCode": PRIVATE[5],
                "streetAddress": PRIVATE[4],
            },
        },
        "description": "Leaking pipe under the sink",
        "extraDetails": {"gate_code": "1234"},
    }
    booking.update(changes)
    return booking


@pytest.fixture
def configured(clean_app, make, st_sandbox):
    """Job types and Extra Details as the partner mapped them; the sandbox has acct-hvac paired."""
    make.directory()
    make.servicetitan(st_sandbox.url)
    with clean_app.app_context():
        db.session.add_all(
            [
                JobType(category="Plumbing", partner_key="partner_job_type_1", position=1),
                JobType(category="Garage Door", partner_key=None, position=2),
                ExtraDetailParameter(key="gate_code", key_folded="gate_code", display_name="Gate code"),
            ]
        )
        db.session.commit()
    st_sandbox.state.pair_account(
        {"id": "acct-hvac", "name": "MTech HVAC", "profiles": [{"id": "p-north", "name": "North"}]}
    )
    return st_sandbox


def deliver(app) -> int:
    return OutboxWorker(app, rng=random.Random(1)).run_once()


def test_a_valid_booking_is_stored_queued_and_accepted(clean_app, configured, frozen_clock):
    with clean_app.app_context():
        stored = bookings.submit_booking(document())
        assert (stored.partner_booking_id, stored.account_id, stored.profile_id, stored.service_id) == (
            "booking-1",
            "acct-hvac",
            "p-north",
            "partner_job_type_1",
        )
        assert (stored.message.state, stored.message.idempotency_token) == ("pending", "token-1")

    assert deliver(clean_app) == 1

    [received] = [a.body for a in configured.state.applied if a.path == BOOKINGS_PATH]
    assert received == document()
    with clean_app.app_context():
        described = bookings.describe(bookings.find_booking("booking-1"))
    assert {k: described[k] for k in ("partnerBookingId", "idempotencyToken", "state", "attempts", "error")} == {
        "partnerBookingId": "booking-1",
        "idempotencyToken": "token-1",
        "state": "delivered",
        "attempts": 1,
        "error": None,
    }


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"slot": {**document()["slot"], "serviceId": "partner_job_type_9"}},
            Problem("slot.serviceId", "'partner_job_type_9' is not one of the partner's job type keys"),
        ),
        (
            {"extraDetails": {"parking": "street"}},
            Problem("extraDetails['parking']", "is not a configured Extra Details parameter"),
        ),
        (
            {"extraDetails": {"gate_code": "1", "GATE_CODE": "2"}},
            Problem(
                "extraDetails",
                "repeats the key 'GATE_CODE' (keys may not repeat, even in another case: DuplicateExtraDetail)",
            ),
        ),
        (
            {"slot": {**document()["slot"], "startSec": 1620744727000}},
            Problem("slot.startSec", "1620744727000 looks like milliseconds; ServiceTitan expects seconds"),
        ),
        ({"partnerBookingId": "booking 1"}, Problem("partnerBookingId", "must not contain spaces")),
    ],
)
def test_a_booking_against_the_configuration_is_refused_and_nothing_is_stored(
    clean_app, make, configured, changes, problem
):
    with clean_app.app_context(), pytest.raises(InvalidPayload) as refused:
        bookings.submit_booking(document(**changes))
    assert refused.value.problems == [problem]
    assert make.count(Booking) == make.count(OutboxMessage) == 0


def test_a_key_repeated_in_the_file_is_caught_and_nothing_is_sent(clean_app, make, configured, runner, tmp_path):
    text = json.dumps(document()).replace('"gate_code": "1234"', '"gate_code": "1234", "gate_code": "4321"')
    path = tmp_path / "booking.json"
    path.write_text(text)

    result = runner.invoke(args=["bookings", "send", str(path), "--now"])

    assert result.exit_code == 1
    assert result.output == (
        "Error: the booking file was refused:\n"
        "  extraDetails: repeats the key 'gate_code' (keys may not repeat, even in another case: DuplicateExtraDetail)\n"
    )
    assert make.count(Booking) == 0
    assert configured.state.received == []


def test_a_file_with_one_bad_booking_is_refused_whole(clean_app, make, configured, runner, tmp_path):
    path = tmp_path / "bookings.json"
    path.write_text(json.dumps([document(1), document(2, idempotencyToken="token-1"), document(3, slot={})]))

    result = runner.invoke(args=["bookings", "send", str(path)])

    assert result.exit_code == 1
    assert "  [1].idempotencyToken: 'token-1' was already used: every booking needs a new one\n" in result.output
    assert "  [2].slot.accountId: is required\n" in result.output
    assert make.count(Booking) == 0


def test_bookings_send_now_reports_the_outcome(clean_app, configured, runner, tmp_path):
    path = tmp_path / "bookings.json"
    path.write_text(json.dumps([document(1), document(2)]))

    result = runner.invoke(args=["bookings", "send", str(path), "--now", "--json"])

    assert result.exit_code == 0, result.output
    assert [(b["partnerBookingId"], b["idempotencyToken"], b["state"]) for b in json.loads(result.output)] == [
        ("booking-1", "token-1", "delivered"),
        ("booking-2", "token-2", "delivered"),
    ]
    assert sorted(configured.state.bookings) == ["booking-1", "booking-2"]
    shown = runner.invoke(args=["bookings", "show", "booking-2"])
    assert shown.output.strip() == "booking-2  delivered  (idempotencyToken token-2)"
    listed = runner.invoke(args=["bookings", "list", "--json"])
    assert [b["partnerBookingId"] for b in json.loads(listed.output)] == ["booking-2", "booking-1"]
    assert runner.invoke(args=["bookings", "show", "booking-9"]).exit_code == 1


def test_a_booking_submitted_twice_is_refused_plainly(clean_app, configured, frozen_clock):
    with clean_app.app_context():
        bookings.submit_booking(document())
        with pytest.raises(InvalidPayload) as refused:
            bookings.submit_booking(document(idempotencyToken="token-2"))
        assert refused.value.problems == [
            Problem(
                "partnerBookingId",
                f"'booking-1' was already submitted (booking #{bookings.find_booking('booking-1').id}, pending):"
                " a real duplicate",
            )
        ]
        with pytest.raises(InvalidPayload) as reused:
            bookings.submit_booking(document(2, idempotencyToken="token-1"))
        assert reused.value.problems == [
            Problem("idempotencyToken", "'token-1' was already used: every booking needs a new one")
        ]


def test_servicetitans_duplicate_is_shown_as_it_is(clean_app, configured, runner, frozen_clock):
    configured.state.apply_booking(document(idempotencyToken="sent-elsewhere"))  # ServiceTitan has it already
    with clean_app.app_context():
        bookings.submit_booking(document())
    deliver(clean_app)

    shown = runner.invoke(args=["bookings", "show", "booking-1"])
    assert shown.output.strip() == (
        "booking-1  failed  (idempotencyToken token-1)  DuplicateBooking 11302: "
        "A booking with a specified partnerBookingId already exists."
    )


def test_personal_data_never_reaches_the_logs(clean_app, configured, runner, tmp_path, caplog, frozen_clock):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "booking.json"
    path.write_text(json.dumps([document(1), document(2), document(3)]))
    configured.state.inject(BOOKINGS_PATH, "lose_response")  # a retry, a duplicate proving delivery
    configured.state.inject(BOOKINGS_PATH, "error", status=503)
    configured.state.disable_account("acct-hvac")  # and refusals with ServiceTitan's error

    assert runner.invoke(args=["bookings", "send", str(path), "--now"]).exit_code == 0
    configured.state.disable_account("acct-hvac", disabled=False)
    frozen_clock.advance(3600)
    deliver(clean_app)
    with pytest.raises(InvalidPayload):
        with clean_app.app_context():
            bookings.submit_booking(document(4, slot={"accountId": "a b"}))

    logged = "\n".join([caplog.text, *(repr(r.args) for r in caplog.records), *(repr(vars(r)) for r in caplog.records)])
    assert "outbox message" in logged  # the outbox did log its attempts
    for value in PRIVATE:
        assert value not in logged
