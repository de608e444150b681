"""ServiceTitan's webhooks over real HTTP, sent by the sandbox's sender to the running
receiver: authentication and rotation, keep-first storage, validation, de-duplication
(sequential and simultaneous), out-of-order updates and the timeline."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client import REGISTRY
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select, update

from oidc_provider.core import clock, json_limits
from oidc_provider.core.encryption import encrypt
from oidc_provider.core.extensions import db
from oidc_provider.core.models import (
    AuditEvent,
    AvailabilitySnapshot,
    Booking,
    Event,
    LeadStatusUpdate,
    OutboxMessage,
    WebhookDelivery,
    WebhookSigningKey,
)
from oidc_provider.servicetitan import forwarding, leads_report, webhook_sweeper, webhooks
from oidc_provider.servicetitan.catalog import webhook_keys
from oidc_provider.servicetitan.catalog.webhook_keys import generate, paste, retire, valid_keys
from oidc_provider.web.endpoints import webhooks as webhooks_endpoint
from st_sandbox import webhooks as sender
from tests.conftest import LiveServer

KEY = "st-generated-key-0001"
OTHER_KEY = "st-generated-key-0002"
SANDBOX_KEY = "st-sandbox-key-0001"
PREFIX = "/servicetitan/webhooks"
SENT_AT = 1_658_312_877

# The document's "Accepted" example, corrected: as printed it lacks the comma after
# statusUpdateId and is not JSON.
ACCEPTED_EXAMPLE = {
    "partnerBookingId": "someBookingId",
    "accountId": "someAccountId",
    "profileId": "someProfileId",
    "statusUpdateId": "uniqueValuePerRequest",
    "status": "Accepted",
    "timestamp": 1658313865,
    "eventData": {"acceptedTimestamp": 1658313864, "leadDeliveredTimestamp": 1658312877},
}


@pytest.fixture(scope="module")
def receiver(app):
    """The provider on a real loopback port for the whole module; tests empty the tables."""
    with LiveServer(app) as server:
        yield server.url + PREFIX


@pytest.fixture
def keyed(clean_app, receiver):
    """One signing key set, the way the admin pastes ServiceTitan's."""
    with clean_app.app_context():
        paste(KEY, "test")
    return receiver


@pytest.fixture
def sandbox_keyed(clean_app, receiver):
    """The sandbox's own key set; its receivers' prefix."""
    with clean_app.app_context():
        paste(SANDBOX_KEY, "test", "sandbox")
    return receiver + "/sandbox"


def add_booking(
    app, partner_booking_id="booking-1", account_id="acct-hvac", profile_id="p-north", environment="production"
):
    """A booking sent to ``environment``: production's, like the receiver at PREFIX."""
    with app.app_context():
        message = OutboxMessage(kind="booking", environment=environment, ordering_key=partner_booking_id, payload={})
        db.session.add(message)
        db.session.flush()
        db.session.add(
            Booking(
                partner_booking_id=partner_booking_id,
                environment=environment,
                account_id=account_id,
                profile_id=profile_id,
                service_id="partner_job_type_1",
                message_id=message.id,
            )
        )
        db.session.commit()


def body(event, partner_booking_id="booking-1", now=SENT_AT + 600, **overrides):
    booking = {"partnerBookingId": partner_booking_id, "slot": {"accountId": "acct-hvac", "profileId": "p-north"}}
    return sender.lead_status_body(event, booking, SENT_AT, now, **overrides)


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def deliveries(app) -> list[WebhookDelivery]:
    with app.app_context():
        rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        db.session.expunge_all()
        return rows


# -- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "st-generated-key-0002", KEY + " ", ""])
def test_a_wrong_or_missing_key_is_refused_and_nothing_stored(clean_app, keyed, key):
    add_booking(clean_app)
    answer = sender.send(keyed, "accepted", body("accepted"), None)
    if key is not None:
        answer = requests.post(
            f"{keyed}/leads/accepted", json=body("accepted"), headers={"X-STLeads-Token": key}, timeout=10
        )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    assert count(clean_app, WebhookDelivery) == 0 and count(clean_app, LeadStatusUpdate) == 0
    with clean_app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "webhook_refused")).all()
        assert [e.detail["topic"] for e in events][-1] == "leads/accepted"
        assert events[-1].detail["reason"] in ("missing key", "wrong key")
        assert KEY not in json.dumps([e.detail for e in events])


def test_until_a_key_is_set_every_delivery_is_refused(clean_app, receiver):
    answer = sender.send(receiver, "accepted", body("accepted"), "anything-at-all-here")
    assert answer.status_code == 401
    assert count(clean_app, WebhookDelivery) == 0
    with clean_app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "webhook_refused")).all()
        assert event.detail["reason"] == "no signing key is set"


def test_unsigned_deliveries_only_when_the_setting_allows_them(clean_app, receiver, monkeypatch):
    monkeypatch.setitem(clean_app.config, "WEBHOOK_ALLOW_UNSIGNED", True)
    assert sender.send(receiver, "accepted", body("accepted"), None).status_code == 200
    with clean_app.app_context():
        paste(KEY, "test")  # once a key is set, the setting no longer opens the door
    assert sender.send(receiver, "accepted", body("accepted"), None).status_code == 401
    assert count(clean_app, WebhookDelivery) == 1


def test_both_keys_work_while_rotating_and_the_retired_one_stops(clean_app, keyed, frozen_clock):
    add_booking(clean_app)
    frozen_clock.advance(1)
    with clean_app.app_context():
        _, new_key = generate("test")
    assert sender.send(keyed, "accepted", body("accepted"), KEY).status_code == 200
    assert sender.send(keyed, "declined", body("declined"), new_key).status_code == 200
    with clean_app.app_context():
        retire(valid_keys()[1], "test")
    assert sender.send(keyed, "invoiced", body("invoiced"), KEY).status_code == 401
    assert sender.send(keyed, "invoiced", body("invoiced"), new_key).status_code == 200
    assert count(clean_app, LeadStatusUpdate) == 3


def test_keys_read_while_this_process_retired_one_are_not_kept(clean_app, keyed, monkeypatch):
    """A read that began before a retirement through this process ended (and forgot the
    keys) may hold the retired key: it answers its delivery but is not kept for the next."""
    with clean_app.app_context():
        read = db.session.scalars

        def read_then_forget(*args, **kwargs):
            rows = read(*args, **kwargs).all()
            webhook_keys.forget_values()  # another thread's retirement, committed meanwhile
            return rows

        monkeypatch.setattr(db.session, "scalars", read_then_forget)
        assert webhook_keys.valid_values() != []
        monkeypatch.undo()
        assert webhook_keys.PRODUCTION not in clean_app.extensions["oidc_provider.webhook_keys"]
        webhook_keys.valid_values()
        assert webhook_keys.PRODUCTION in clean_app.extensions["oidc_provider.webhook_keys"]


def test_a_known_key_is_checked_without_a_query_and_a_change_elsewhere_is_followed(clean_app, keyed, monkeypatch):
    """Another process's rotation, written straight to the table: its new key is accepted at
    once, its retired key until this process's values are older than KEY_REFRESH_INTERVAL."""
    add_booking(clean_app)
    with clean_app.app_context():
        engine = db.engine
    statements = []

    def keep(connection, cursor, statement, *args):
        statements.append(statement)

    sender.send(keyed, "accepted", body("accepted"), KEY)
    sqlalchemy_event.listen(engine, "before_cursor_execute", keep)
    try:
        assert sender.send(keyed, "declined", body("declined"), KEY).status_code == 200
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", keep)
    assert statements and not [s for s in statements if "webhook_signing_keys" in s]

    with clean_app.app_context():
        db.session.execute(update(WebhookSigningKey).values(retired_at=clock.now()))
        db.session.commit()
    assert sender.send(keyed, "invoiced", body("invoiced"), KEY).status_code == 200  # within the interval
    with clean_app.app_context():
        db.session.add(WebhookSigningKey(key_encrypted=encrypt(OTHER_KEY), source="pasted"))
        db.session.commit()
    assert sender.send(keyed, "invoiced", body("invoiced"), OTHER_KEY).status_code == 200
    monkeypatch.setitem(clean_app.config, "KEY_REFRESH_INTERVAL", 0)
    assert sender.send(keyed, "invoiced", body("invoiced"), KEY).status_code == 401


def test_the_header_name_is_a_setting(clean_app, keyed, monkeypatch):
    add_booking(clean_app)
    monkeypatch.setitem(clean_app.config, "WEBHOOK_HEADER", "X-Partner-Key")
    assert sender.send(keyed, "accepted", body("accepted"), KEY).status_code == 401
    answer = sender.send(keyed, "accepted", body("accepted"), KEY, header="X-Partner-Key")
    assert answer.status_code == 200
    [delivery] = deliveries(clean_app)
    assert "x-partner-key" not in {name.lower() for name in delivery.headers}
    assert KEY not in json.dumps(delivery.headers)


# -- every event, stored and on the timeline ------------------------------------------------


def test_each_lead_event_is_stored_and_shown_on_the_timeline_in_event_order(clean_app, keyed):
    add_booking(clean_app)
    # Sent out of order: invoiced first, accepted last.
    sent = [("invoiced", 4000), ("appointment_scheduled", 2000), ("declined", 1500), ("accepted", 1000)]
    for event, offset in sent:
        answer = sender.send(keyed, event, body(event, now=SENT_AT + offset), KEY)
        assert answer.status_code == 200 and answer.json()["state"] == "stored"
    with clean_app.app_context():
        line = leads_report.timeline("booking-1")
    assert line["booking"]["accountId"] == "acct-hvac" and line["booking"]["profileId"] == "p-north"
    assert [u["status"] for u in line["updates"]] == ["Accepted", "Declined", "AppointmentScheduled", "Invoiced"]
    assert [u["timestamp"] for u in line["updates"]] == [SENT_AT + 1000, SENT_AT + 1500, SENT_AT + 2000, SENT_AT + 4000]
    invoiced = line["updates"][-1]["eventData"]
    assert invoiced["totalPrice"] == 400.0
    assert invoiced["skus"][2] == {
        "name": "some-equipment",
        "code": "some-equipment-code",
        "price": 110.0,
        "quantity": 3.0,
        "serialNumber": "abcdefg",
        "model": "cool-equipment",
    }


def test_the_documents_accepted_example_corrected_is_valid(clean_app, keyed):
    add_booking(clean_app, "someBookingId", "someAccountId", "someProfileId")
    answer = sender.send(keyed, "accepted", ACCEPTED_EXAMPLE, KEY)
    assert answer.status_code == 200 and answer.json() == {"deliveryId": answer.json()["deliveryId"], "state": "stored"}


def test_the_documents_accepted_example_as_printed_is_kept_but_answered_400(clean_app, keyed):
    printed = json.dumps(ACCEPTED_EXAMPLE, indent=1).replace('"uniqueValuePerRequest",', '"uniqueValuePerRequest"')
    answer = requests.post(
        f"{keyed}/leads/accepted",
        data=printed.encode(),
        timeout=10,
        headers={"X-STLeads-Token": KEY, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and answer.json()["state"] == "not_json"
    [delivery] = deliveries(clean_app)
    assert delivery.body == printed.encode() and delivery.state == "not_json"
    assert count(clean_app, LeadStatusUpdate) == 0


def test_the_raw_delivery_keeps_body_arrival_path_and_headers(clean_app, keyed, frozen_clock):
    add_booking(clean_app)
    raw = json.dumps(body("accepted")).encode()
    requests.post(
        f"{keyed}/leads/accepted",
        data=raw,
        timeout=10,
        headers={"X-STLeads-Token": KEY, "Content-Type": "application/json", "X-Trace": "t-1"},
    )
    [delivery] = deliveries(clean_app)
    assert delivery.body == raw and delivery.topic == "leads/accepted"
    assert delivery.received_at == frozen_clock.now()
    assert delivery.headers["X-Trace"] == "t-1" and "X-Stleads-Token" not in delivery.headers


@pytest.mark.parametrize("topic", ["accounts", "profiles", "services"])
def test_undocumented_pushes_are_stored_as_received(clean_app, keyed, topic):
    raw = b'{"tenantId": 42, "whatever": ["as", "sent"], "nested": {"x": 1.50}}'
    answer = requests.post(f"{keyed}/{topic}", data=raw, headers={"X-STLeads-Token": KEY}, timeout=10)
    assert answer.status_code == 200 and answer.json()["state"] == "stored"
    [delivery] = deliveries(clean_app)
    assert delivery.body == raw and delivery.topic == topic


def test_the_latest_availability_per_account_profile_and_service(clean_app, keyed, runner, frozen_clock):
    def push(document):
        frozen_clock.advance(60)
        answer = requests.post(f"{keyed}/availabilities", json=document, headers={"X-STLeads-Token": KEY}, timeout=10)
        assert answer.status_code == 200

    push({"accountId": "acct-hvac", "profileId": "p-north", "serviceId": "s1", "slots": [1]})
    push(
        [
            {"accountId": "acct-hvac", "profileId": "p-north", "serviceId": "s1", "slots": [2]},
            {"accountId": "acct-hvac", "profileId": "p-south", "serviceId": "s1", "slots": [3]},
        ]
    )
    result = runner.invoke(args=["availability", "show", "--environment", "production", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert [(s["profileId"], s["payload"]["slots"]) for s in shown] == [("p-north", [2]), ("p-south", [3])]
    assert count(clean_app, AvailabilitySnapshot) == 3


# -- each environment at its own URL, with its own keys -------------------------------------


def test_each_environments_key_works_only_at_its_own_url(clean_app, keyed, sandbox_keyed):
    at_production = sender.send(keyed, "accepted", body("accepted"), SANDBOX_KEY)
    at_sandbox = sender.send(sandbox_keyed, "accepted", body("accepted"), KEY)
    assert at_production.status_code == at_sandbox.status_code == 401
    assert count(clean_app, WebhookDelivery) == 0
    with clean_app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "webhook_refused")).all()
        assert {(e.detail["environment"], e.detail["reason"]) for e in events} == {
            ("production", "wrong key"),
            ("sandbox", "wrong key"),
        }
    assert sender.send(keyed, "accepted", body("accepted"), KEY).status_code == 200
    assert sender.send(sandbox_keyed, "declined", body("declined"), SANDBOX_KEY).status_code == 200
    assert [(d.environment, d.topic) for d in deliveries(clean_app)] == [
        ("production", "leads/accepted"),
        ("sandbox", "leads/declined"),
    ]


def test_until_the_sandbox_has_a_key_its_url_refuses_even_with_productions(clean_app, keyed):
    answer = sender.send(keyed + "/sandbox", "accepted", body("accepted"), KEY)
    assert answer.status_code == 401 and "no signing key is set" in answer.json()["error_description"]


def test_rotation_in_one_environment_leaves_the_other_alone(clean_app, keyed, sandbox_keyed, frozen_clock):
    with clean_app.app_context():
        for _ in range(3):
            frozen_clock.advance(1)
            generate("test", "sandbox")
        assert [k.environment for k in valid_keys("sandbox")] == ["sandbox", "sandbox"]
        assert [k.environment for k in valid_keys()] == ["production"]
    assert sender.send(keyed, "declined", body("declined"), KEY).status_code == 200
    assert sender.send(sandbox_keyed, "accepted", body("accepted"), SANDBOX_KEY).status_code == 401  # rotated out


def test_a_key_of_one_environment_cannot_be_pasted_into_the_other(clean_app, keyed):
    with clean_app.app_context(), pytest.raises(webhook_keys.WebhookKeyError, match="production environment's"):
        paste(KEY, "test", "sandbox")


def test_a_lead_update_is_linked_only_to_a_booking_of_its_own_environment(clean_app, keyed, sandbox_keyed):
    add_booking(clean_app, "booking-1", environment="sandbox")
    add_booking(clean_app, "booking-2", environment="production")
    at_production = sender.send(keyed, "accepted", body("accepted", "booking-1"), KEY).json()
    at_sandbox = sender.send(sandbox_keyed, "accepted", body("accepted", "booking-1"), SANDBOX_KEY).json()
    assert at_production["state"] == "unknown_booking"
    assert at_production["problems"] == ["no booking we sent has this partnerBookingId in the production environment"]
    assert at_sandbox["state"] == "stored"
    assert sender.send(sandbox_keyed, "accepted", body("accepted", "booking-2"), SANDBOX_KEY).json()["state"] == (
        "unknown_booking"
    )
    with clean_app.app_context():
        rows = db.session.scalars(select(LeadStatusUpdate).order_by(LeadStatusUpdate.id)).all()
        assert [(u.environment, u.booking_id is not None) for u in rows] == [
            ("production", False),
            ("sandbox", True),
            ("sandbox", False),
        ]
        # Only the sandbox's update is on the sandbox booking's timeline and in its report.
        assert [u["environment"] for u in leads_report.timeline("booking-1")["updates"]] == ["sandbox"]
        assert leads_report.report("sandbox")["total"]["funnel"] == {
            "sent": 1,
            "accepted": 1,
            "declined": 0,
            "scheduled": 0,
            "invoiced": 0,
        }
        assert leads_report.report("production")["total"]["funnel"]["accepted"] == 0
        # Judged again, the production delivery still finds no production booking.
        flagged = db.session.get(WebhookDelivery, at_production["deliveryId"])
        assert webhooks.judge_again(flagged, "test").state == "unknown_booking"


def test_the_sweep_judges_a_delivery_in_the_environment_it_came_in_at(clean_app, sandbox_keyed, monkeypatch):
    add_booking(clean_app, environment="sandbox")
    judge = webhooks.lead_update_problems

    def broken(*args):
        raise RuntimeError("a bug in the judge")

    monkeypatch.setattr(webhooks, "lead_update_problems", broken)
    assert sender.send(sandbox_keyed, "accepted", body("accepted"), SANDBOX_KEY).json()["state"] == "received"
    monkeypatch.setattr(webhooks, "lead_update_problems", judge)
    with clean_app.app_context():
        assert webhooks.judge_waiting() == 1
        [update_row] = db.session.scalars(select(LeadStatusUpdate)).all()
        assert (update_row.environment, update_row.booking_id is not None) == ("sandbox", True)


def test_availability_is_kept_and_shown_per_environment(clean_app, keyed, sandbox_keyed, runner):
    item = {"accountId": "acct-hvac", "profileId": "p-north", "serviceId": "s1"}
    requests.post(f"{keyed}/availabilities", json=item | {"slots": [1]}, headers={"X-STLeads-Token": KEY}, timeout=10)
    requests.post(
        f"{sandbox_keyed}/availabilities",
        json=item | {"slots": [2]},
        headers={"X-STLeads-Token": SANDBOX_KEY},
        timeout=10,
    )
    for environment, slots in (("production", [1]), ("sandbox", [2])):
        result = runner.invoke(args=["availability", "show", "--environment", environment, "--json"])
        assert result.exit_code == 0, result.output
        assert [(s["environment"], s["payload"]["slots"]) for s in json.loads(result.output)] == [(environment, slots)]


# -- judged after being kept ----------------------------------------------------------------


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"statusUpdateId": None}, "statusUpdateId must be a non-empty string"),
        ({"timestamp": "yesterday"}, "timestamp must be Unix seconds"),
        ({"status": "Declined"}, "status must be Invoiced on this path"),
        (
            {"eventData": {"invoicedTimestamp": 1, "leadDeliveredTimestamp": 1, "totalPrice": "400", "skus": []}},
            "eventData.totalPrice must be a number",
        ),
        (
            {
                "eventData": {
                    "invoicedTimestamp": 1,
                    "leadDeliveredTimestamp": 1,
                    "totalPrice": 4,
                    "skus": [{"name": "n", "code": "c", "price": 1, "quantity": 1, "serialNumber": 7}],
                }
            },
            "eventData.skus[0].serialNumber must be a string",
        ),
        ({"partnerBookingId": "a\x00b"}, webhooks.UNSTORABLE),
        ({"partnerBookingId": "b" * 201}, "partnerBookingId must be at most 200 characters"),
    ],
)
def test_a_body_that_does_not_validate_is_kept_and_flagged(clean_app, keyed, change, problem):
    answer = sender.send(keyed, "invoiced", body("invoiced", **change), KEY)
    assert answer.status_code == 200 and answer.json()["state"] == "invalid"
    assert problem in answer.json()["problems"]
    [delivery] = deliveries(clean_app)
    assert delivery.state == "invalid" and problem in delivery.problems
    kept = json.loads(delivery.body)
    assert kept == body("invoiced", **change) | {"statusUpdateId": kept["statusUpdateId"]}
    assert count(clean_app, LeadStatusUpdate) == 0


@pytest.mark.parametrize(
    "topic, raw",
    [
        ("accounts", b'{"name": "a\\u0000b"}'),
        ("availabilities", b'{"accountId": "\\ud800"}'),
        ("leads/accepted", json.dumps(body("accepted", profileId="\ud800")).encode()),
    ],
)
def test_text_no_column_can_hold_is_kept_as_bytes(clean_app, keyed, topic, raw):
    answer = requests.post(f"{keyed}/{topic}", data=raw, headers={"X-STLeads-Token": KEY}, timeout=10)
    assert answer.status_code == 200 and answer.json() == {
        "deliveryId": answer.json()["deliveryId"],
        "state": "invalid",
        "problems": [webhooks.UNSTORABLE],
    }
    assert deliveries(clean_app)[0].body == raw
    assert count(clean_app, LeadStatusUpdate) == 0 and count(clean_app, AvailabilitySnapshot) == 0


@pytest.mark.parametrize("raw", [b"not json", b"\xff\xfe", b"", b'{"a": NaN}'])
def test_a_body_that_is_not_json_is_kept_raw_and_answered_400(clean_app, keyed, raw):
    answer = requests.post(f"{keyed}/leads/declined", data=raw, headers={"X-STLeads-Token": KEY}, timeout=10)
    assert answer.status_code == 400 and answer.json()["state"] == "not_json"
    [delivery] = deliveries(clean_app)
    assert delivery.body == raw and delivery.state == "not_json"


def test_an_oversized_body_is_refused_413_and_not_stored(clean_app, keyed, monkeypatch):
    monkeypatch.setitem(clean_app.config, "WEBHOOK_MAX_BYTES", 1000)
    just_fits = json.dumps({"pad": "x" * (1000 - 11)}).encode()
    assert len(just_fits) == 1000
    assert (
        requests.post(f"{keyed}/accounts", data=just_fits, headers={"X-STLeads-Token": KEY}, timeout=10).status_code
        == 200
    )
    answer = requests.post(f"{keyed}/accounts", data=just_fits + b" ", headers={"X-STLeads-Token": KEY}, timeout=10)
    assert answer.status_code == 413
    assert count(clean_app, WebhookDelivery) == 1


def test_the_default_limit_is_one_mebibyte_not_the_protocol_limit(clean_app, keyed):
    big = json.dumps({"pad": "x" * 500_000}).encode()  # far above MAX_CONTENT_LENGTH (64 KiB)
    answer = requests.post(f"{keyed}/profiles", data=big, headers={"X-STLeads-Token": KEY}, timeout=10)
    assert answer.status_code == 200
    assert (
        requests.post(
            f"{keyed}/profiles", data=b" " * (1024 * 1024 + 1), headers={"X-STLeads-Token": KEY}, timeout=10
        ).status_code
        == 413
    )


def test_an_update_for_an_unknown_booking_is_kept_and_flagged(clean_app, keyed):
    answer = sender.send(keyed, "accepted", body("accepted", partner_booking_id="never-sent"), KEY)
    assert answer.status_code == 200 and answer.json()["state"] == "unknown_booking"
    with clean_app.app_context():
        [update] = db.session.scalars(select(LeadStatusUpdate)).all()
        assert update.booking_id is None and update.partner_booking_id == "never-sent"
        assert leads_report.report("production")["total"]["funnel"]["accepted"] == 0


# -- de-duplication -------------------------------------------------------------------------


def test_a_repeated_delivery_answers_200_and_changes_nothing(clean_app, keyed):
    add_booking(clean_app)
    document = body("accepted")
    first = sender.send(keyed, "accepted", document, KEY)
    again = sender.send(keyed, "accepted", document, KEY)
    assert (first.status_code, first.json()["state"]) == (200, "stored")
    assert (again.status_code, again.json()["state"]) == (200, "duplicate")
    assert count(clean_app, LeadStatusUpdate) == 1
    with clean_app.app_context():
        assert len(leads_report.timeline("booking-1")["updates"]) == 1


def test_simultaneous_duplicates_make_one_update(clean_app, keyed):
    add_booking(clean_app)
    documents = [body("accepted", statusUpdateId=f"update-{n // 8}") for n in range(32)]
    with requests.Session() as session, ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda d: sender.send(keyed, "accepted", d, KEY, session=session), documents))
    assert [a.status_code for a in answers] == [200] * 32
    assert sorted(a.json()["state"] for a in answers) == ["duplicate"] * 28 + ["stored"] * 4
    assert count(clean_app, LeadStatusUpdate) == 4
    assert count(clean_app, WebhookDelivery) == 32


def test_the_sandbox_sends_a_lead_update_about_a_booking_it_received(clean_app, sandbox_keyed, st_sandbox, monkeypatch):
    """The whole way: the sandbox (ServiceTitan's sandbox environment) received booking-1,
    sent to the sandbox environment, and its control endpoint sends Accepted to the
    sandbox's URL with the sandbox's key."""
    add_booking(clean_app, environment="sandbox")
    st_sandbox.state.bookings["booking-1"] = {
        "partnerBookingId": "booking-1",
        "slot": {"accountId": "acct-hvac", "profileId": "p-north"},
    }
    monkeypatch.setitem(st_sandbox.app.config, "ST_SANDBOX_WEBHOOK_PREFIX", sandbox_keyed)
    monkeypatch.setitem(st_sandbox.app.config, "ST_SANDBOX_WEBHOOK_KEY", SANDBOX_KEY)
    answer = requests.post(
        f"{st_sandbox.url}/_sandbox/webhooks/leads/accepted", json={"partnerBookingId": "booking-1"}, timeout=10
    )
    assert answer.status_code == 200 and answer.json()["status"] == 200
    with clean_app.app_context():
        assert [u["status"] for u in leads_report.timeline("booking-1")["updates"]] == ["Accepted"]


def test_parse_body_refuses_what_is_not_json():
    assert webhooks.parse_body(b'{"a": 1.5}') == {"a": 1.5}
    for raw in (b"{", b"\xff", b"Infinity"):
        with pytest.raises(webhooks.NotJson):
            webhooks.parse_body(raw)


# -- one transaction: kept and judged together, the raw row kept when judging fails ---------


def test_a_delivery_is_kept_and_judged_in_one_commit(clean_app, keyed):
    add_booking(clean_app)
    with clean_app.app_context():
        engine = db.engine
    commits = []

    def count_commit(connection):
        commits.append(connection)

    sqlalchemy_event.listen(engine, "commit", count_commit)
    try:
        answer = sender.send(keyed, "accepted", body("accepted"), KEY)
    finally:
        sqlalchemy_event.remove(engine, "commit", count_commit)
    assert answer.json()["state"] == "stored"
    assert len(commits) == 1
    [delivery] = deliveries(clean_app)
    assert delivery.state == "stored" and count(clean_app, LeadStatusUpdate) == 1


def test_when_judging_fails_the_raw_delivery_commits_and_the_sweep_judges_it(clean_app, keyed, monkeypatch):
    add_booking(clean_app)
    judge = webhooks.lead_update_problems

    def broken(*args):
        raise RuntimeError("a bug in the judge")

    monkeypatch.setattr(webhooks, "lead_update_problems", broken)
    document = body("accepted")
    answer = sender.send(keyed, "accepted", document, KEY)
    assert answer.status_code == 200
    assert answer.json()["state"] == "received" and answer.json()["problems"] == [webhooks.JUDGING_FAILED]
    [delivery] = deliveries(clean_app)
    assert delivery.state == "received" and json.loads(delivery.body) == document
    assert count(clean_app, LeadStatusUpdate) == 0

    monkeypatch.setattr(webhooks, "lead_update_problems", judge)  # the bug fixed, or a passing fault
    with clean_app.app_context():
        assert webhooks.judge_waiting() == 1
    assert deliveries(clean_app)[0].state == "stored"
    assert count(clean_app, LeadStatusUpdate) == 1


def test_when_judging_fails_after_writing_only_the_raw_delivery_commits(clean_app, keyed, monkeypatch):
    """A failure after the update and its event were written (here, queueing the event's
    push) takes them back: the raw row alone commits, received, as for a failed check."""
    add_booking(clean_app)

    def broken(event):
        raise RuntimeError("the push could not be queued")

    monkeypatch.setattr(forwarding, "enqueue", broken)
    answer = sender.send(keyed, "accepted", body("accepted"), KEY)
    assert answer.status_code == 200 and answer.json()["state"] == "received"
    [delivery] = deliveries(clean_app)
    assert delivery.state == "received" and delivery.id == answer.json()["deliveryId"]
    assert count(clean_app, LeadStatusUpdate) == 0 and count(clean_app, Event) == 0


def test_a_delivery_that_fails_judging_twice_is_flagged_not_retried_for_ever(clean_app, keyed, monkeypatch):
    def broken(*args):
        raise RuntimeError("a bug in the judge")

    monkeypatch.setattr(webhooks, "lead_update_problems", broken)
    sender.send(keyed, "accepted", body("accepted"), KEY)
    with clean_app.app_context():
        assert webhooks.judge_waiting() == 1
        assert webhooks.judge_waiting() == 0
    [delivery] = deliveries(clean_app)
    assert (delivery.state, delivery.problems) == ("invalid", [webhooks.JUDGING_FAILED_TWICE])


def test_each_process_sweeps_as_it_starts_and_then_periodically(clean_app, keyed, monkeypatch):
    """Rows left ``received`` (a crash between keeping and judging in an earlier version, a
    failed judge) are judged by the sweeper thread that the first request starts."""
    add_booking(clean_app)
    with clean_app.app_context():
        for number in range(3):
            db.session.add(
                WebhookDelivery(
                    topic="leads/accepted",
                    received_at=clock.now(),
                    headers={},
                    body=json.dumps(body("accepted", statusUpdateId=f"left-{number}")).encode(),
                    state="received",
                    problems=[],
                )
            )
        db.session.commit()
    monkeypatch.setitem(clean_app.config, "WEBHOOK_SWEEP_INTERVAL", 0.05)
    stop = clean_app.extensions["oidc_provider.servicetitan"]["sweeper_stop"]
    stop.clear()
    thread = webhook_sweeper.start(clean_app)
    try:
        assert thread is not None
        assert webhook_sweeper.start(clean_app) is None  # once per process
        deadline = time.monotonic() + 30
        while count(clean_app, WebhookDelivery, WebhookDelivery.state == "received") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert {d.state for d in deliveries(clean_app)} == {"stored"}
        # ... and again later: a row left now is judged by the next sweep.
        with clean_app.app_context():
            db.session.execute(update(WebhookDelivery).values(state="received"))
            db.session.execute(LeadStatusUpdate.__table__.delete())
            db.session.commit()
        deadline = time.monotonic() + 30
        while count(clean_app, WebhookDelivery, WebhookDelivery.state == "received") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert {d.state for d in deliveries(clean_app)} == {"stored"}
    finally:
        stop.set()
        thread.join(timeout=10)
        webhook_sweeper._started.clear()


# -- hostile bodies -------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("depth", [500, 5_000, 100_000])
@pytest.mark.parametrize("topic", ["accounts", "availabilities", "leads/invoiced"])
def test_deep_nesting_is_judged_invalid_and_kept(clean_app, keyed, topic, depth):
    for raw in (nested(depth), b"[" * depth + b"]" * depth):
        answer = requests.post(f"{keyed}/{topic}", data=raw, headers={"X-STLeads-Token": KEY}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == "invalid"
        assert answer.json()["problems"] == [f"the document is nested deeper than {json_limits.MAX_DEPTH} levels"]
    assert [d.body for d in deliveries(clean_app)] == [nested(depth), b"[" * depth + b"]" * depth]
    assert count(clean_app, AvailabilitySnapshot) == 0


@pytest.mark.parametrize(
    "topic, raw, problem",
    [
        ("accounts", b'{"total": 1e999999}', "total: the number is too large (beyond ±1.8e308)"),
        ("availabilities", b'[{"accountId": "a", "slots": [-1e400]}]', "[0].slots[0]: the number is too large"),
        (
            "leads/invoiced",
            json.dumps(body("invoiced")).replace('"totalPrice": 400.0', '"totalPrice": 1e999999').encode(),
            "eventData.totalPrice: the number is too large",
        ),
    ],
)
def test_numbers_that_overflow_are_judged_invalid(clean_app, keyed, topic, raw, problem):
    add_booking(clean_app)
    answer = requests.post(f"{keyed}/{topic}", data=raw, headers={"X-STLeads-Token": KEY}, timeout=10)
    assert answer.status_code == 200 and answer.json()["state"] == "invalid"
    assert any(p.startswith(problem) for p in answer.json()["problems"]), answer.json()
    assert deliveries(clean_app)[0].body == raw
    assert count(clean_app, LeadStatusUpdate) == 0 and count(clean_app, AvailabilitySnapshot) == 0


@pytest.mark.parametrize(
    "where, amount",
    [("totalPrice", "1" + "0" * 400), ("totalPrice", "-1e300"), ("price", "1e13"), ("quantity", "10" * 30)],
)
def test_absurd_amounts_are_invalid_and_left_out_of_the_report(clean_app, keyed, where, amount):
    add_booking(clean_app)
    document = body("invoiced")
    raw = json.dumps(document)
    if where == "totalPrice":
        raw = raw.replace('"totalPrice": 400.0', f'"totalPrice": {amount}')
        expected = "eventData.totalPrice must be at most 1,000,000,000,000 in size"
    else:
        raw = raw.replace({"price": '"price": 20.0', "quantity": '"quantity": 2.0'}[where], f'"{where}": {amount}', 1)
        expected = f"eventData.skus[0].{where} must be at most 1,000,000,000,000 in size"
    answer = requests.post(f"{keyed}/leads/invoiced", data=raw.encode(), headers={"X-STLeads-Token": KEY}, timeout=10)
    assert answer.status_code == 200 and answer.json()["state"] == "invalid"
    assert expected in answer.json()["problems"]
    with clean_app.app_context():
        assert leads_report.report("production")["total"]["revenue"] == "0"


@pytest.mark.parametrize(
    "content_type, raw",
    [
        ("application/x-www-form-urlencoded", b"partnerBookingId=b-1&note=a%00b&x=%FF"),
        ("application/x-www-form-urlencoded", json.dumps({"accountId": "a-1"}).encode()),
        (
            "multipart/form-data; boundary=XyZ",
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--XyZ--\r\n',
        ),
        ("multipart/form-data", b"no boundary at all"),
        ("text/plain; charset=latin-1", '{"name": "Café"}'.encode("latin-1")),
        ("application/octet-stream", bytes(range(256))),
    ],
)
def test_the_body_is_kept_byte_for_byte_whatever_the_content_type(clean_app, keyed, content_type, raw):
    answer = requests.post(
        f"{keyed}/accounts", data=raw, headers={"X-STLeads-Token": KEY, "Content-Type": content_type}, timeout=10
    )
    assert answer.status_code in (200, 400) and "deliveryId" in answer.json(), answer.text
    [delivery] = deliveries(clean_app)
    assert delivery.body == raw
    assert delivery.state == ("stored" if raw.startswith(b'{"accountId"') else delivery.state)
    assert delivery.state != "received"


def chunked(raw: bytes):
    """A request body sent without Content-Length, in chunks."""
    for start in range(0, len(raw), 4096):
        yield raw[start : start + 4096]


@pytest.mark.parametrize("extra, stored", [(-1, True), (0, True), (1, False), (100_000, False)])
def test_a_chunked_body_is_held_to_the_limit_like_any_other(clean_app, keyed, monkeypatch, extra, stored):
    monkeypatch.setitem(clean_app.config, "WEBHOOK_MAX_BYTES", 10_000)
    raw = json.dumps({"pad": "x" * (10_000 + extra - 11)}).encode()
    assert len(raw) == 10_000 + extra
    answer = requests.post(f"{keyed}/profiles", data=chunked(raw), headers={"X-STLeads-Token": KEY}, timeout=10)
    assert "Content-Length" not in answer.request.headers
    if stored:
        assert answer.status_code == 200 and answer.json()["state"] == "stored"
        assert deliveries(clean_app)[0].body == raw
    else:
        assert answer.status_code == 413
        assert count(clean_app, WebhookDelivery) == 0


# -- refused deliveries: counted, and one audit row per source and reason per interval -----


def test_refusals_are_counted_by_topic_and_reason_and_their_audit_rows_coalesced(clean_app, keyed, frozen_clock):
    def refused(topic, reason):
        return (
            REGISTRY.get_sample_value("oidc_provider_webhooks_refused_total", {"topic": topic, "reason": reason}) or 0
        )

    before = refused("leads/accepted", "wrong key"), refused("accounts", "missing key")
    with requests.Session() as session:
        for _ in range(40):
            session.post(f"{keyed}/leads/accepted", json={}, headers={"X-STLeads-Token": "guess"}, timeout=10)
        for _ in range(5):
            session.post(f"{keyed}/accounts", json={}, timeout=10)
        frozen_clock.advance(webhooks_endpoint.REFUSALS_INTERVAL)
        session.post(f"{keyed}/leads/accepted", json={}, headers={"X-STLeads-Token": "guess"}, timeout=10)
    assert refused("leads/accepted", "wrong key") - before[0] == 41
    assert refused("accounts", "missing key") - before[1] == 5
    with clean_app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.kind == "webhook_refused").order_by(AuditEvent.id)
        ).all()
        assert [(r.detail["reason"], r.detail["remote_addr"], r.count) for r in rows] == [
            ("wrong key", "127.0.0.1", 40),
            ("missing key", "127.0.0.1", 5),
            ("wrong key", "127.0.0.1", 1),
        ]
