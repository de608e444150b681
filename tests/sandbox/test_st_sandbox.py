"""The offline ServiceTitan: its token server, Leads API rules and error shape, faults on
demand, the Custom pairing button and lead status webhooks, all over real HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
from flask import Flask, request

from st_sandbox import create_app as create_sandbox
from tests.conftest import LiveServer, RunningSandbox

SECRET = "7a2abb98b5117e80500af07788109d1d2031784dbb6cc1833262f0ac2132"
ACCOUNT = {"id": "acct-1", "name": "One", "profiles": [{"id": "p-1", "name": "P1"}]}


def token(sandbox: RunningSandbox) -> str:
    answer = requests.post(
        sandbox.url + "/connect/token",
        data={"client_id": "partner_client", "client_secret": SECRET, "grant_type": "client_credentials"},
        timeout=5,
    )
    assert answer.status_code == 200
    return answer.json()["access_token"]


def post(sandbox: RunningSandbox, path: str, body, bearer: str | None = None, raw: str | None = None):
    headers = {"Authorization": f"Bearer {bearer or token(sandbox)}", "Content-Type": "application/json"}
    return requests.post(
        sandbox.url + path, data=raw if raw is not None else json.dumps(body), headers=headers, timeout=5
    )


# -- /connect/token -------------------------------------------------------------------------


def test_client_credentials_give_an_hour_long_bearer_token(st_sandbox):
    answer = requests.post(
        st_sandbox.url + "/connect/token",
        data={"client_id": "partner_client", "client_secret": SECRET, "grant_type": "client_credentials"},
        timeout=5,
    )

    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert st_sandbox.state.token_valid(body["access_token"])


@pytest.mark.parametrize(
    ("form", "error"),
    [
        (
            {"client_id": "partner_client", "client_secret": "wrong", "grant_type": "client_credentials"},
            "invalid_client",
        ),
        ({"client_id": "partner_client", "client_secret": SECRET, "grant_type": "password"}, "unsupported_grant_type"),
    ],
)
def test_token_errors(st_sandbox, form, error):
    answer = requests.post(st_sandbox.url + "/connect/token", data=form, timeout=5)
    assert (answer.status_code, answer.json()["error"]) == (400, error)


def test_the_token_request_must_be_form_encoded(st_sandbox):
    answer = requests.post(
        st_sandbox.url + "/connect/token",
        json={"client_id": "partner_client", "client_secret": SECRET, "grant_type": "client_credentials"},
        timeout=5,
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")


def test_a_token_expires_after_its_hour():
    now = [1_700_000_000.0]
    app = create_sandbox({"ST_SANDBOX_CLOCK": lambda: now[0]})
    with LiveServer(app) as server:
        sandbox = RunningSandbox(app, server.url)
        bearer = token(sandbox)
        request_id = sandbox.state.create_request("custom").request_id
        now[0] += 3600
        answer = post(sandbox, "/api/integrations/accounts", {"requestId": request_id, "status": "PROCESSING"}, bearer)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_the_documents_bearer_colon_typo_is_refused(st_sandbox):
    answer = requests.post(
        st_sandbox.url + "/api/integrations/accounts",
        json={},
        headers={"Authorization": f"Bearer: {token(st_sandbox)}"},
        timeout=5,
    )
    assert answer.status_code == 401


# -- pairing states -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "code"),
    [
        (["PROCESSING", "COMPLETED"], None),
        (["COMPLETED"], None),
        (["DECLINED"], None),
        (["PROCESSING", "DECLINED"], None),
        (["PROCESSING", "PROCESSING"], 15102),
        (["COMPLETED", "COMPLETED"], 15302),
        (["COMPLETED", "DECLINED"], 15102),
        (["COMPLETED", "PROCESSING"], 15102),
        (["DECLINED", "COMPLETED"], 15102),
        (["DECLINED", "DECLINED"], 15102),
    ],
)
def test_status_changes(st_sandbox, steps, code):
    request_id = st_sandbox.state.create_request("custom").request_id
    answers = []
    for status in steps:
        body = {"requestId": request_id, "status": status, **({"account": ACCOUNT} if status == "COMPLETED" else {})}
        answers.append(post(st_sandbox, "/api/integrations/accounts", body))
    assert [a.status_code for a in answers[:-1]] == [200] * (len(steps) - 1)
    if code is None:
        assert answers[-1].status_code == 200
        assert st_sandbox.state.requests[request_id].history == steps
    else:
        error = answers[-1].json()
        assert set(error) == {"code", "message", "status", "stTraceId", "errors"}
        assert (error["code"], error["status"]) == (code, answers[-1].status_code)
        assert len(st_sandbox.state.applied) == len(steps) - 1


def test_validation_errors_list_every_problem(st_sandbox):
    answer = post(st_sandbox, "/api/integrations/bookings", {"slot": {"startSec": 1.5}})
    error = answer.json()
    assert (answer.status_code, error["code"]) == (400, 10001)
    assert error["message"] == "One or more validation errors occurred"
    assert error["errors"][:2] == ["idempotencyToken must be specified", "partnerBookingId must be specified"]
    assert "slot.startSec must be an integer" in error["errors"]


def test_an_extra_detail_key_written_twice_is_refused(st_sandbox):
    st_sandbox.state.pair_account(dict(ACCOUNT))
    raw = (
        '{"idempotencyToken": "t", "partnerBookingId": "b", "slot": {"accountId": "acct-1", "profileId": "p-1",'
        ' "serviceId": "s"}, "address": {"streetAddress": "1 Main"}, "extraDetails": {"k": "1", "k": "2"}}'
    )
    answer = post(st_sandbox, "/api/integrations/bookings", None, raw=raw)
    assert (answer.status_code, answer.json()["code"]) == (400, 11304)
    # the table's top-level address is accepted, as the document allows it
    fixed = post(st_sandbox, "/api/integrations/bookings", None, raw=raw.replace('"k": "2"', '"K2": "2"'))
    assert fixed.status_code == 200
    assert st_sandbox.state.bookings["b"]["extraDetails"] == {"k": "1", "K2": "2"}


# -- faults, steered over HTTP ----------------------------------------------------------------


def test_faults_through_the_control_api(st_sandbox):
    added = requests.post(
        st_sandbox.url + "/_sandbox/faults",
        json={"path": "/api/integrations/accounts", "kind": "error", "status": 502, "times": 2},
        timeout=5,
    )
    assert added.status_code == 201
    bearer = token(st_sandbox)
    statuses = [post(st_sandbox, "/api/integrations/accounts", {}, bearer).status_code for _ in range(3)]
    assert statuses == [502, 502, 400]

    requests.post(st_sandbox.url + "/_sandbox/faults", json={"path": "/api", "kind": "drop", "times": None}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        post(st_sandbox, "/api/integrations/accounts", {}, bearer)
    assert requests.delete(st_sandbox.url + "/_sandbox/faults", timeout=5).status_code == 204
    assert post(st_sandbox, "/api/integrations/accounts", {}, bearer).status_code == 400
    bad = requests.post(st_sandbox.url + "/_sandbox/faults", json={"kind": "explode"}, timeout=5)
    assert bad.status_code == 400


def test_a_lost_response_was_applied(st_sandbox):
    request_id = requests.post(st_sandbox.url + "/_sandbox/requests", json={}, timeout=5).json()["requestId"]
    st_sandbox.state.inject("/api/integrations/accounts", "lose_response")
    with pytest.raises(requests.ConnectionError):
        post(st_sandbox, "/api/integrations/accounts", {"requestId": request_id, "status": "PROCESSING"})
    state = requests.get(st_sandbox.url + "/_sandbox/state", timeout=5).json()
    assert [a["body"] for a in state["applied"]] == [{"requestId": request_id, "status": "PROCESSING"}]
    assert state["requests"] == [
        {
            "requestId": request_id,
            "mechanism": "custom",
            "status": "PROCESSING",
            "history": ["PROCESSING"],
            "accountId": None,
        }
    ]


def test_an_account_paired_through_the_control_api_takes_bookings(st_sandbox):
    assert requests.post(st_sandbox.url + "/_sandbox/accounts", json=ACCOUNT, timeout=5).status_code == 204
    booking = {
        "idempotencyToken": "token-1",
        "partnerBookingId": "booking-1",
        "slot": {"accountId": "acct-1", "profileId": "p-1", "serviceId": "job-1"},
        "userInformation": {"address": {"streetAddress": "1 Main St"}},
    }
    assert post(st_sandbox, "/api/integrations/bookings", booking).status_code == 200

    for wrong in (["acct-2"], {"id": "acct-2", "profiles": "p-1"}, {"id": "acct-2", "profiles": [{"name": "no id"}]}):
        refused = requests.post(st_sandbox.url + "/_sandbox/accounts", json=wrong, timeout=5)
        assert (refused.status_code, "profiles" in refused.json()["error"]) == (400, True)


# -- pages ----------------------------------------------------------------------------------


def test_the_custom_pairing_button_sends_the_tenant_with_a_new_request_id():
    app = create_sandbox({"ST_SANDBOX_CUSTOM_PAIRING_URL": "https://partner.example/st/pair"})
    web = app.test_client()
    assert "Pair with Custom pairing" in web.get("/").text

    answer = web.post("/custom-pairing")

    assert answer.status_code == 303
    [request_id] = app.extensions["st_sandbox"]["state"].requests
    assert answer.headers["Location"] == f"https://partner.example/st/pair?requestId={request_id}"
    assert re.search(
        rf"<code>{request_id}</code></td><td>custom</td>\s*<td class=\"status\">NEW</td>", web.get("/").text
    )


def test_pair_now_says_what_it_lacks():
    web = create_sandbox({}).test_client()
    assert "Pair with Custom pairing" not in web.get("/").text
    answer = web.get("/pair")
    assert answer.status_code == 503
    assert "missing settings: ST_SANDBOX_ISSUER, ST_SANDBOX_CLIENT_ID, ST_SANDBOX_CLIENT_SECRET" in answer.text


# -- lead status webhooks -------------------------------------------------------------------


@pytest.fixture(scope="module")
def receiver_server():
    """A partner's webhook endpoint that keeps what it received."""
    app = Flask("receiver")
    received: list[dict] = []

    @app.post("/servicetitan/webhooks/leads/<event>")
    def leads(event):
        received.append({"event": event, "headers": dict(request.headers), "body": request.get_json()})
        return "", 204

    with LiveServer(app) as server:
        yield server.url + "/servicetitan/webhooks", received


@pytest.fixture
def receiver(receiver_server):
    receiver_server[1].clear()
    return receiver_server


@pytest.mark.parametrize(
    ("event", "status", "fields"),
    [
        ("accepted", "Accepted", {"acceptedTimestamp", "leadDeliveredTimestamp"}),
        ("declined", "Declined", {"declineTimestamp", "declineReason", "leadDeliveredTimestamp"}),
        ("appointment_scheduled", "AppointmentScheduled", {"scheduledStartTimestamp", "leadDeliveredTimestamp"}),
        ("invoiced", "Invoiced", {"invoicedTimestamp", "leadDeliveredTimestamp", "totalPrice", "skus"}),
    ],
)
def test_lead_status_webhooks_on_demand(receiver, event, status, fields):
    prefix, received = receiver
    now = [1_658_313_865.0]
    app = create_sandbox(
        {
            "ST_SANDBOX_WEBHOOK_PREFIX": prefix,
            "ST_SANDBOX_WEBHOOK_KEY": "shared-key",
            "ST_SANDBOX_CLOCK": lambda: now[0],
        }
    )
    state = app.extensions["st_sandbox"]["state"]
    state.pair_account(dict(ACCOUNT))
    state.apply_booking(
        {
            "idempotencyToken": "t",
            "partnerBookingId": "booking-1",
            "userInformation": {"address": {"streetAddress": "1 Main"}},
            "slot": {"accountId": "acct-1", "profileId": "p-1", "serviceId": "s"},
        }
    )
    now[0] += 60

    answer = app.test_client().post(f"/_sandbox/webhooks/leads/{event}", json={"partnerBookingId": "booking-1"})

    assert answer.status_code == 200 and answer.json["status"] == 204
    [delivery] = received
    assert delivery["event"] == event
    assert delivery["headers"]["X-Stleads-Token"] == "shared-key"
    body = delivery["body"]
    assert {k: body[k] for k in ("partnerBookingId", "accountId", "profileId", "status", "timestamp")} == {
        "partnerBookingId": "booking-1",
        "accountId": "acct-1",
        "profileId": "p-1",
        "status": status,
        "timestamp": 1_658_313_925,
    }
    assert re.fullmatch(r"[0-9a-f-]{36}", body["statusUpdateId"])
    assert set(body["eventData"]) == fields
    assert body["eventData"]["leadDeliveredTimestamp"] == 1_658_313_865


def test_a_webhook_about_an_unknown_booking_is_refused(receiver):
    app = create_sandbox({"ST_SANDBOX_WEBHOOK_PREFIX": receiver[0]})
    answer = app.test_client().post("/_sandbox/webhooks/leads/accepted", json={"partnerBookingId": "nope"})
    assert answer.status_code == 400 and "received no booking 'nope'" in answer.json["error"]
    assert receiver[1] == []


def test_the_sandbox_shares_no_code_with_the_provider():
    for source in (Path(__file__).resolve().parents[2] / "st_sandbox").glob("*.py"):
        imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", source.read_text(), re.MULTILINE)
        assert imports and not [name for name in imports if name.split(".")[0] in ("authlib", "oidc_provider")], source
