"""The Leads API client against the sandbox on a real loopback socket: the token (cached,
renewed before its expires_in, one renewal at a time), every documented error code as its
typed error, local validation, timeouts. No database: the client needs none."""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from oidc_provider.core.problems import Problem
from oidc_provider.servicetitan import errors
from oidc_provider.servicetitan.environments import Environment
from oidc_provider.servicetitan.leads_api import (
    ACCOUNTS_PATH,
    BOOKINGS_PATH,
    KeptSession,
    LeadsApiClient,
    TokenCache,
    request_token,
)
from oidc_provider.servicetitan.validation import InvalidPayload, check_account_status, check_booking
from st_sandbox import create_app as create_sandbox
from st_sandbox.state import ERROR_MESSAGES
from tests.conftest import LiveServer, RunningSandbox

SECRET = "7a2abb98b5117e80500af07788109d1d2031784dbb6cc1833262f0ac2132"
ACCOUNT = {
    "id": "acct-hvac",
    "name": "MTech HVAC",
    "profiles": [{"id": "p-north", "name": "North"}, {"id": "p-south", "name": "South"}],
}


def environment(url: str, secret: str = SECRET, api_url: str | None = None) -> Environment:
    return Environment("sandbox", url, api_url or url, "partner_client", secret)


def client_for(sandbox: RunningSandbox, timeout: float = 5, **kw) -> LeadsApiClient:
    return LeadsApiClient(environment(sandbox.url, **kw), tokens=TokenCache(), timeout=timeout)


def booking(number: int = 1, **slot) -> dict:
    return {
        "idempotencyToken": f"token-{number}",
        "partnerBookingId": f"booking-{number}",
        "slot": {
            "accountId": "acct-hvac",
            "profileId": "p-north",
            "serviceId": "find_and_repair_leak",
            "startSec": 1620744727,
            "durationSec": 3600,
            **slot,
        },
        "userInformation": {
            "givenName": "John",
            "familyName": "Smith",
            "address": {"streetAddress": "2450 Cumberland Pkwy"},
        },
    }


def token_requests(sandbox: RunningSandbox) -> int:
    return sum(1 for _, path, _ in sandbox.state.received if path == "/connect/token")


# -- the token ------------------------------------------------------------------------------


def test_one_token_serves_many_calls(st_sandbox, frozen_clock):
    client = client_for(st_sandbox)
    for _ in range(3):
        request = st_sandbox.state.create_request("custom")
        client.send_account_status({"requestId": request.request_id, "status": "PROCESSING"})

    assert token_requests(st_sandbox) == 1
    assert [path for _, path, _ in st_sandbox.state.received].count(ACCOUNTS_PATH) == 3


def test_token_is_renewed_before_the_expires_in_it_came_with(frozen_clock):
    # A 100-second token (not ServiceTitan's hour) is renewed 10 seconds before its end.
    sandbox_app = create_sandbox({"ST_SANDBOX_TOKEN_LIFETIME": "100"})
    with LiveServer(sandbox_app) as server:
        sandbox = RunningSandbox(sandbox_app, server.url)
        tokens, env = TokenCache(), environment(server.url)
        session = requests.Session()
        first = tokens.get(env, session, 5)

        frozen_clock.advance(89)
        assert tokens.get(env, session, 5) == first
        frozen_clock.advance(1)
        second = tokens.get(env, session, 5)

        assert second != first
        assert token_requests(sandbox) == 2
        assert sandbox.state.token_valid(second)


def test_the_hour_long_sandbox_token_is_renewed_a_minute_early(st_sandbox, frozen_clock):
    token = request_token(environment(st_sandbox.url), requests.Session(), 5)
    assert (token.expires_at - frozen_clock.now()).total_seconds() == 3600
    assert (token.renew_at - frozen_clock.now()).total_seconds() == 3540


def test_many_threads_wait_for_one_renewal(st_sandbox, frozen_clock):
    tokens, env = TokenCache(), environment(st_sandbox.url)
    # A slow identity server widens the window in which every thread finds no token.
    st_sandbox.state.inject("/connect/token", "delay", seconds=0.3, times=None)

    def ask_together() -> set[str]:
        start, seen = threading.Barrier(16), []

        def ask():
            start.wait()
            seen.append(tokens.get(env, requests.Session(), 5))

        threads = [threading.Thread(target=ask) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(seen) == 16
        return set(seen)

    [first] = ask_together()
    assert token_requests(st_sandbox) == 1
    frozen_clock.advance(3540)
    [second] = ask_together()
    assert second != first
    assert token_requests(st_sandbox) == 2


def test_a_refused_token_is_renewed_once_and_the_call_succeeds(st_sandbox, frozen_clock):
    client = client_for(st_sandbox)
    request = st_sandbox.state.create_request("custom")
    client.tokens.get(client.environment, client.session, 5)
    st_sandbox.state.tokens.clear()  # ServiceTitan forgot it before its time

    client.send_account_status({"requestId": request.request_id, "status": "PROCESSING"})

    assert token_requests(st_sandbox) == 2
    assert [a.body for a in st_sandbox.state.applied] == [{"requestId": request.request_id, "status": "PROCESSING"}]


def test_wrong_credentials_fail_the_token_request(st_sandbox, frozen_clock):
    with pytest.raises(errors.TokenRequestFailed) as failed:
        client_for(st_sandbox, secret="wrong").send_account_status({"requestId": "r-1", "status": "PROCESSING"})
    assert failed.value.status == 400
    assert "invalid_client" in str(failed.value)
    assert failed.value.retryable
    assert st_sandbox.state.applied == []


# -- every documented error, from the real server -----------------------------------------


def paired(sandbox: RunningSandbox) -> None:
    sandbox.state.pair_account(dict(ACCOUNT))


def completed(request_id: str, account: dict = ACCOUNT) -> dict:
    return {"requestId": request_id, "status": "COMPLETED", "account": account}


def cause_10001(client, sandbox):
    client._post(BOOKINGS_PATH, {**booking(), "partnerBookingId": ""})  # locally this never leaves


def cause_11102(client, sandbox):
    paired(sandbox)
    sandbox.state.disable_account("acct-hvac")
    client.send_booking(booking())


def cause_11302(client, sandbox):
    paired(sandbox)
    client.send_booking(booking())
    client.send_booking({**booking(), "idempotencyToken": "token-new"})


def cause_11303(client, sandbox):
    paired(sandbox)
    client.send_booking(booking())
    client.send_booking({**booking(), "partnerBookingId": "booking-new"})


def cause_11304(client, sandbox):
    paired(sandbox)
    client._post(BOOKINGS_PATH, {**booking(), "extraDetails": {"key": "a", "KEY": "b"}})


def cause_15102(client, sandbox):
    request = sandbox.state.create_request("custom")
    client.send_account_status({"requestId": request.request_id, "status": "DECLINED"})
    client.send_account_status({"requestId": request.request_id, "status": "PROCESSING"})


def cause_15103(client, sandbox):
    request = sandbox.state.create_request("custom")
    client._post(ACCOUNTS_PATH, {"requestId": request.request_id, "status": "COMPLETED"})


def cause_15202(client, sandbox):
    client.send_account_status({"requestId": "never-created", "status": "PROCESSING"})


def cause_15203(client, sandbox):
    client.send_booking(booking())


def cause_15204(client, sandbox):
    paired(sandbox)
    client.send_booking(booking(profileId="p-elsewhere"))


def cause_15302(client, sandbox):
    request = sandbox.state.create_request("custom")
    client.send_account_status(completed(request.request_id))
    client.send_account_status(completed(request.request_id))


def cause_15303(client, sandbox):
    paired(sandbox)
    client.send_account_status(completed(sandbox.state.create_request("custom").request_id))


def cause_15304(client, sandbox):
    paired(sandbox)
    other = {"id": "acct-new", "name": "New", "profiles": [{"id": "p-south", "name": "South"}]}
    client.send_account_status(completed(sandbox.state.create_request("custom").request_id, other))


@pytest.mark.parametrize(
    ("code", "name", "status", "cause"),
    [
        (10001, "ValidationFailed", 400, cause_10001),
        (11102, "IntegrationDisabled", 403, cause_11102),
        (11302, "DuplicateBooking", 409, cause_11302),
        (11303, "DuplicateIdempotencyToken", 409, cause_11303),
        (11304, "DuplicateExtraDetail", 400, cause_11304),
        (15102, "InvalidAccountStatusChange", 400, cause_15102),
        (15103, "InvalidAccountData", 400, cause_15103),
        (15202, "RequestIdNotFound", 404, cause_15202),
        (15203, "AccountNotFound", 404, cause_15203),
        (15204, "ProfileNotFound", 404, cause_15204),
        (15302, "DuplicateRequestId", 409, cause_15302),
        (15303, "DuplicateAccount", 409, cause_15303),
        (15304, "DuplicateProfile", 409, cause_15304),
    ],
)
def test_servicetitans_error_becomes_its_typed_error(st_sandbox, frozen_clock, code, name, status, cause):
    client = client_for(st_sandbox)

    with pytest.raises(errors.LeadsApiError) as refused:
        cause(client, st_sandbox)

    error = refused.value
    assert type(error) is getattr(errors, name)
    assert (error.code, error.name, error.status) == (code, name, status)
    assert error.message == ERROR_MESSAGES[code]
    assert len(error.st_trace_id) == 36
    assert isinstance(error.errors, list)
    assert error.retryable is False


def test_a_refused_call_changes_nothing(st_sandbox, frozen_clock):
    client = client_for(st_sandbox)
    paired(st_sandbox)
    client.send_booking(booking())
    with pytest.raises(errors.DuplicateBooking):
        client.send_booking({**booking(), "idempotencyToken": "token-2"})
    assert [a.body["partnerBookingId"] for a in st_sandbox.state.applied] == ["booking-1"]
    # the refused booking did not use up its token
    client.send_booking({**booking(2), "idempotencyToken": "token-2"})
    assert [a.body["partnerBookingId"] for a in st_sandbox.state.applied] == ["booking-1", "booking-2"]


# -- before and around the wire -----------------------------------------------------------


def test_an_invalid_booking_never_leaves(st_sandbox, frozen_clock):
    # The client sends only a CheckedBooking, which only check_booking makes.
    with pytest.raises(InvalidPayload) as refused:
        client_for(st_sandbox).send_booking(check_booking(booking(startSec=1234567890000)))
    assert refused.value.problems == [
        Problem("slot.startSec", "1234567890000 looks like milliseconds; ServiceTitan expects seconds")
    ]
    assert st_sandbox.state.received == []


def test_an_invalid_account_status_never_leaves(st_sandbox, frozen_clock):
    with pytest.raises(InvalidPayload):
        client_for(st_sandbox).send_account_status(check_account_status({"requestId": "r-1", "status": "COMPLETED"}))
    assert st_sandbox.state.received == []


def test_a_slow_answer_times_out_and_may_have_landed(st_sandbox, frozen_clock):
    client = client_for(st_sandbox, timeout=0.2)
    request = st_sandbox.state.create_request("custom")
    client.tokens.get(client.environment, client.session, 5)
    st_sandbox.state.inject(ACCOUNTS_PATH, "delay", seconds=0.6)

    with pytest.raises(errors.TransportError) as failed:
        client.send_account_status({"requestId": request.request_id, "status": "PROCESSING"})

    assert failed.value.may_have_landed is True
    assert failed.value.retryable is True


def test_a_slow_token_server_times_out(st_sandbox, frozen_clock):
    st_sandbox.state.inject("/connect/token", "delay", seconds=0.6)
    with pytest.raises(errors.TokenRequestFailed, match="ReadTimeout"):
        client_for(st_sandbox, timeout=0.2).send_account_status({"requestId": "r-1", "status": "PROCESSING"})


def test_a_lost_response_may_have_landed_and_did(st_sandbox, frozen_clock):
    client = client_for(st_sandbox)
    request = st_sandbox.state.create_request("custom")
    st_sandbox.state.inject(ACCOUNTS_PATH, "lose_response")

    with pytest.raises(errors.TransportError) as failed:
        client.send_account_status({"requestId": request.request_id, "status": "PROCESSING"})

    assert failed.value.may_have_landed is True
    assert [a.body["status"] for a in st_sandbox.state.applied] == ["PROCESSING"]


def test_a_connection_never_made_cannot_have_landed(st_sandbox, frozen_clock):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    client = LeadsApiClient(environment(st_sandbox.url, api_url=nowhere), tokens=TokenCache(), timeout=2)

    with pytest.raises(errors.TransportError) as failed:
        client.send_account_status({"requestId": "r-1", "status": "PROCESSING"})

    assert failed.value.may_have_landed is False


def test_a_5xx_is_a_retryable_server_error(st_sandbox, frozen_clock):
    st_sandbox.state.inject(ACCOUNTS_PATH, "error", status=503)
    with pytest.raises(errors.ServerError) as failed:
        client_for(st_sandbox).send_account_status({"requestId": "r-1", "status": "PROCESSING"})
    assert failed.value.status == 503
    assert failed.value.retryable


def test_the_secret_never_shows_in_a_repr():
    env = environment("https://leads-identity-demo.st.dev")
    assert SECRET not in repr(env)


def test_a_kept_session_reads_the_proxy_settings_once_per_host(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "direct.example")
    session = KeptSession()

    def proxies(url: str) -> dict:
        return session.merge_environment_settings(url, {}, None, None, None)["proxies"]

    assert proxies("https://api.example/a")["https"] == "http://proxy.example:3128"
    assert "https" not in proxies("https://direct.example/a")
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example:3128")
    assert proxies("https://api.example/b")["https"] == "http://proxy.example:3128"  # read once
    assert proxies("https://next.example/a")["https"] == "http://other.example:3128"
    assert (
        session.merge_environment_settings("https://api.example/c", {"https": "http://own.example"}, None, None, None)[
            "proxies"
        ]["https"]
        == "http://own.example"
    )
