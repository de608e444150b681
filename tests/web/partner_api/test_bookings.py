"""The bookings API: accepted once, retried safely, refused with where and why, followed."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent, ExtraDetailParameter, JobType, OutboxMessage
from oidc_provider.servicetitan.catalog.webhook_keys import paste
from oidc_provider.servicetitan.outbox import OutboxWorker
from st_sandbox import webhooks as sandbox_webhooks
from tests.servicetitan.test_bookings import PRIVATE, document
from tests.web.partner_api.conftest import api_token, assert_problem, bearer

KEY = "st-webhook-key-0001"


@pytest.fixture
def bookable(clean_app, make, flows):
    """acct-hvac paired (COMPLETED, sandbox) by OpenID Connect; the partner's job types and
    Extra Details configured."""
    make.directory()
    flows.tokens(make.client(account_info_claim=True))
    with clean_app.app_context():
        db.session.add_all(
            [
                JobType(category="Plumbing", partner_key="partner_job_type_1", position=1),
                ExtraDetailParameter(key="gate_code", key_folded="gate_code", display_name="Gate code"),
            ]
        )
        db.session.commit()


def post(web, token, booking, **query):
    return web.post("/api/v1/bookings", json=booking, headers=bearer(token), query_string=query)


def booking_without_token(number=1, **changes) -> dict:
    booking = document(number, **changes)
    del booking["idempotencyToken"]
    return booking


def queued(make) -> int:
    return make.count(OutboxMessage)


def test_a_booking_is_accepted_queued_and_located(web, clean_app, make, bookable, token):
    response = post(web, token, booking_without_token())
    assert response.status_code == 202, response.json
    assert response.headers["Location"] == "/api/v1/bookings/booking-1"
    # A bearer-token API: no session cookie is read, set or varied on.
    assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get("Vary", "")
    body = response.json
    assert (body["partnerBookingId"], body["state"], body["environment"]) == ("booking-1", "queued", "sandbox")
    assert (body["accountId"], body["profileId"], body["serviceId"]) == ("acct-hvac", "p-north", "partner_job_type_1")
    assert body["attempts"] == 0 and body["error"] is None and body["timeline"] == []
    assert len(body["idempotencyToken"]) == 32  # minted by the product
    with clean_app.app_context():
        [message] = db.session.scalars(select(OutboxMessage)).all()
        assert message.payload["idempotencyToken"] == body["idempotencyToken"]
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "booking_accepted"))
        assert event.actor == "api-client:Booking platform"
        assert event.detail["partnerBookingId"] == "booking-1"


def test_a_given_idempotency_token_is_used_for_the_first_send(web, bookable, token):
    assert post(web, token, document()).json["idempotencyToken"] == "token-1"


def test_the_same_booking_again_is_a_safe_retry(web, make, bookable, token):
    first = post(web, token, booking_without_token())
    again = post(web, token, booking_without_token())
    assert again.status_code == 200
    assert again.json == first.json
    assert queued(make) == 1


def test_a_retry_with_another_idempotency_token_is_still_the_same_booking(web, make, bookable, token):
    post(web, token, document())
    assert post(web, token, document(idempotencyToken="token-other")).status_code == 200
    assert queued(make) == 1


def test_the_same_id_with_another_body_is_409(web, make, bookable, token):
    post(web, token, booking_without_token())
    changed = booking_without_token(description="Another job")
    assert_problem(post(web, token, changed), 409, "partnerBookingId")
    assert queued(make) == 1


def test_a_used_idempotency_token_is_409(web, make, bookable, token):
    post(web, token, document(1))
    assert_problem(post(web, token, document(2, idempotencyToken="token-1")), 409, "idempotencyToken")
    assert queued(make) == 1


def _slot(**changes):
    return {**document()["slot"], **changes}


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"slot": _slot(startSec=1234567890000)}, "slot.startSec"),
        ({"slot": _slot(serviceId="partner_job_type_9")}, "slot.serviceId"),
        ({"slot": _slot(accountId="acct-plumbing", profileId="p-main")}, "slot.accountId"),  # not paired
        ({"slot": _slot(accountId="acct-nowhere")}, "slot.accountId"),
        ({"slot": _slot(accountId="acct-closed", profileId="p-closed")}, "slot.accountId"),  # not eligible
        ({"slot": _slot(profileId="p-main")}, "slot.profileId"),  # another account's profile
        ({"extraDetails": {"gate_code": "1", "GATE_CODE": "2"}}, "extraDetails"),
        ({"partnerBookingId": "has a space"}, "partnerBookingId"),
        ({"partnerBookingId": "nul\u0000"}, "partnerBookingId"),
        ({"description": "nul\u0000"}, "description"),
    ],
)
def test_refused_content_is_422_with_where_and_nothing_queued(web, make, bookable, token, changes, where):
    assert_problem(post(web, token, booking_without_token(**changes)), 422, where)
    assert queued(make) == 0


def test_an_environment_without_a_pairing_is_refused(web, make, bookable, token):
    assert_problem(post(web, token, booking_without_token(), environment="production"), 422, "slot.accountId")
    assert queued(make) == 0


@pytest.mark.parametrize(
    ("data", "content_type", "where"),
    [
        ('{"partnerBookingId": "a", "partnerBookingId": "b"}', "application/json", ""),
        ("{not json", "application/json", ""),
        ("[]", "application/json", ""),
        ("partnerBookingId=a", "application/x-www-form-urlencoded", "Content-Type"),
    ],
)
def test_a_body_that_is_not_one_booking_is_422(web, make, bookable, token, data, content_type, where):
    response = web.post("/api/v1/bookings", data=data, content_type=content_type, headers=bearer(token))
    assert_problem(response, 422, where)
    assert queued(make) == 0


def test_posting_needs_bookings_write(web, make, bookable, api_client):
    token = api_token(web, *api_client, scope="bookings:read")
    body = assert_problem(post(web, token, booking_without_token()), 403, "Authorization")
    assert body["error"] == "insufficient_scope"
    assert queued(make) == 0


def test_posting_without_a_token_is_401(web, make, bookable):
    assert_problem(web.post("/api/v1/bookings", json=booking_without_token()), 401, "Authorization")
    assert queued(make) == 0


def test_personal_data_only_with_bookings_personal(web, bookable, api_client, token):
    post(web, token, booking_without_token())
    full = web.get("/api/v1/bookings/booking-1", headers=bearer(token)).json
    assert full["userInformation"]["givenName"] == PRIVATE[0]
    reader = api_token(web, *api_client, scope="bookings:read")
    response = web.get("/api/v1/bookings/booking-1", headers=bearer(reader))
    assert "userInformation" not in response.json
    assert not any(value in response.get_data(as_text=True) for value in PRIVATE)


def test_an_unknown_booking_is_404(web, token):
    assert_problem(web.get("/api/v1/bookings/nope", headers=bearer(token)), 404, "partnerBookingId")


def test_delivered_with_the_lead_status_timeline(web, clean_app, make, bookable, token, st_sandbox):
    make.servicetitan(st_sandbox.url)
    st_sandbox.state.pair_account(
        {"id": "acct-hvac", "name": "MTech HVAC", "profiles": [{"id": "p-north", "name": "North"}]}
    )
    booking = booking_without_token()
    post(web, token, booking)
    assert OutboxWorker(clean_app, rng=random.Random(1)).run_once() == 1
    with clean_app.app_context():
        paste(KEY, "test")
    update = sandbox_webhooks.lead_status_body("declined", booking, 1_700_000_000, 1_700_000_600)
    delivered = web.post("/servicetitan/webhooks/leads/declined", json=update, headers={"X-STLeads-Token": KEY})
    assert delivered.status_code == 200, delivered.json

    body = web.get("/api/v1/bookings/booking-1", headers=bearer(token)).json
    assert (body["state"], body["attempts"], body["error"]) == ("delivered", 1, None)
    assert body["timeline"] == [
        {
            "status": "Declined",
            "timestamp": 1_700_000_600,
            "statusUpdateId": update["statusUpdateId"],
            "eventData": update["eventData"],
        }
    ]


def test_a_lead_status_update_received_before_the_booking_is_on_its_timeline(web, clean_app, bookable, token):
    with clean_app.app_context():
        paste(KEY, "test")
    booking = booking_without_token()
    update = sandbox_webhooks.lead_status_body("accepted", booking, 1_700_000_000, 1_700_000_600)
    assert (
        web.post("/servicetitan/webhooks/leads/accepted", json=update, headers={"X-STLeads-Token": KEY}).status_code
        == 200
    )

    body = post(web, token, booking).json
    assert [entry["statusUpdateId"] for entry in body["timeline"]] == [update["statusUpdateId"]]


def test_a_refusal_by_servicetitan_is_failed_with_its_error(web, clean_app, make, bookable, token, st_sandbox):
    make.servicetitan(st_sandbox.url)  # the sandbox knows no paired account: AccountNotFound
    post(web, token, booking_without_token())
    OutboxWorker(clean_app, rng=random.Random(1)).run_once()
    body = web.get("/api/v1/bookings/booking-1", headers=bearer(token)).json
    assert body["state"] == "failed"
    assert body["error"]["name"] == "AccountNotFound" and body["error"]["code"] == 15203


def test_the_list_filters_and_pages_with_a_cursor(web, bookable, token):
    for number in range(1, 6):
        assert post(web, token, booking_without_token(number)).status_code == 202
    first = web.get("/api/v1/bookings?limit=2", headers=bearer(token)).json
    assert [b["partnerBookingId"] for b in first["items"]] == ["booking-5", "booking-4"]
    second = web.get(f"/api/v1/bookings?limit=2&cursor={first['next']}", headers=bearer(token)).json
    assert [b["partnerBookingId"] for b in second["items"]] == ["booking-3", "booking-2"]
    last = web.get(f"/api/v1/bookings?limit=2&cursor={second['next']}", headers=bearer(token)).json
    assert [b["partnerBookingId"] for b in last["items"]] == ["booking-1"] and last["next"] is None
    queued_ = web.get("/api/v1/bookings?state=queued&accountId=acct-hvac&environment=sandbox", headers=bearer(token))
    assert len(queued_.json["items"]) == 5
    assert web.get("/api/v1/bookings?state=delivered", headers=bearer(token)).json == {"items": [], "next": None}
    future = web.get("/api/v1/bookings?since=2999-01-01T00:00:00Z", headers=bearer(token)).json
    assert future["items"] == []


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ("state=lost", "state"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("cursor=-1", "cursor"),
        ("since=soon", "since"),
        ("environment=moon", "environment"),
    ],
)
def test_a_refused_filter_is_422(web, token, query, where):
    assert_problem(web.get(f"/api/v1/bookings?{query}", headers=bearer(token)), 422, where)


def test_the_cli_shows_the_same_representation(web, clean_app, bookable, token):
    post(web, token, booking_without_token())
    api = web.get("/api/v1/bookings/booking-1", headers=bearer(token)).json
    cli = clean_app.test_cli_runner().invoke(args=["bookings", "show", "booking-1", "--json"])
    shown = json.loads(cli.output)
    assert shown == {key: value for key, value in api.items() if key != "userInformation"}
