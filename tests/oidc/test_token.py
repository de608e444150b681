"""The token endpoint: the response, and codes that are single-use and bound to what they were
issued for. Client authentication has its own file, test_client_auth.py."""

from __future__ import annotations

import base64
import hashlib
import threading

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AccessToken, AuthorizationCode, Pairing
from oidc_provider.oidc.client_registry import find_client
from tests.factories import SERVICETITAN_CALLBACK
from tests.flows import basic

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def servicetitan(make):
    make.directory()
    return make.client()


def assert_refused(response, make, status: int, error: str):
    assert response.status_code == status, response.json
    assert response.json["error"] == error
    assert response.headers["Cache-Control"] == "no-store"
    assert make.count(AccessToken) == 0
    assert make.count(Pairing) == 0


# -- the response -----------------------------------------------------------------------


def test_token_response_carries_what_servicetitan_reads(flows, clean_app, servicetitan):
    response = flows.exchange(servicetitan, flows.code(servicetitan))

    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) == {"access_token", "token_type", "expires_in", "id_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == clean_app.config["ACCESS_TOKEN_LIFETIME"] == 3600
    assert body["access_token"] and body["id_token"].count(".") == 2
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.mimetype == "application/json"


def test_scope_is_answered_when_it_differs_from_the_request(flows, servicetitan):
    # The client is registered for "openid profile email": "phone" is dropped.
    tokens = flows.tokens(servicetitan, scope="openid profile email phone")

    assert tokens["scope"] == "openid profile email"


def test_scope_is_left_out_when_it_is_the_one_requested(flows, make):
    make.directory()
    client = make.client(scope="openid profile")

    tokens = flows.tokens(client, scope="openid profile")

    assert "scope" not in tokens


def test_access_token_is_stored_only_as_a_hash_with_its_lifetime(flows, make, clean_app, frozen_clock, servicetitan):
    tokens = flows.tokens(servicetitan)

    with clean_app.app_context():
        row = db.session.scalars(select(AccessToken)).one()
        assert row.token_hash == hashlib.sha256(tokens["access_token"].encode()).hexdigest()
        assert row.issued_at == frozen_clock.now()
        assert (row.expires_at - row.issued_at).total_seconds() == 3600
        assert row.revoked_at is None


def test_get_is_method_not_allowed_with_json(web):
    response = web.get("/token")

    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert response.json["error"] == "invalid_request"
    assert "POST" in response.headers["Allow"]


# -- grant types ------------------------------------------------------------------------


@pytest.mark.parametrize("grant_type", ["password", "refresh_token", "implicit"])
def test_other_grant_types_are_unsupported(flows, make, servicetitan, grant_type):
    code = flows.code(servicetitan)

    response = flows.exchange(
        servicetitan, code, grant_type=grant_type, username="owner@mtech.example", password="x", refresh_token="x"
    )

    assert_refused(response, make, 400, "unsupported_grant_type")


def test_a_relying_party_may_not_use_client_credentials(flows, make, servicetitan):
    """The grant is for partner API clients (test_client_credentials.py)."""
    code = flows.code(servicetitan)
    response = flows.exchange(servicetitan, code, grant_type="client_credentials")
    assert_refused(response, make, 400, "unauthorized_client")


def test_missing_grant_type_is_refused(flows, make, servicetitan):
    code = flows.code(servicetitan)

    response = flows.exchange(servicetitan, code, grant_type=None)

    # RFC 6749 5.2: a missing required parameter is invalid_request.
    assert_refused(response, make, 400, "invalid_request")


def test_missing_code_is_invalid_request(flows, make, servicetitan):
    response = flows.exchange(servicetitan, None)

    assert_refused(response, make, 400, "invalid_request")


def test_unknown_code_is_invalid_grant(flows, make, servicetitan):
    flows.code(servicetitan)

    response = flows.exchange(servicetitan, "not-a-code-we-issued")

    assert_refused(response, make, 400, "invalid_grant")


# -- single use -------------------------------------------------------------------------


def test_second_use_is_refused_and_revokes_what_the_first_use_issued(flows, make, clean_app, servicetitan):
    code = flows.code(servicetitan)
    first = flows.exchange(servicetitan, code)
    assert first.status_code == 200
    access_token = first.json["access_token"]
    assert flows.account_info(access_token).status_code == 200

    second = flows.exchange(servicetitan, code)

    assert second.status_code == 400
    assert second.json["error"] == "invalid_grant"
    assert make.count(AccessToken) == 1
    with clean_app.app_context():
        assert db.session.scalars(select(AccessToken)).one().revoked_at is not None
    for response in (
        flows.account_info(access_token),
        flows.web.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}),
    ):
        assert response.status_code == 401
        assert response.json["error"] == "invalid_token"
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_reuse_leaves_other_pairings_alone(flows, servicetitan):
    kept = flows.tokens(servicetitan)
    code = flows.code(servicetitan)
    assert flows.exchange(servicetitan, code).status_code == 200

    assert flows.exchange(servicetitan, code).status_code == 400

    assert flows.account_info(kept["access_token"], request_id="req-kept").status_code == 200


def test_two_uses_at_the_same_moment_yield_exactly_one_success(flows, make, clean_app, servicetitan):
    rounds = 4
    for round_number in range(rounds):
        code = flows.code(servicetitan)
        barrier = threading.Barrier(2)
        results: list = [None, None]

        def redeem(slot: int, code=code, barrier=barrier, results=results) -> None:
            web = clean_app.test_client()
            data = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": servicetitan.redirect_uri,
                "client_id": servicetitan.client_id,
                "client_secret": servicetitan.client_secret,
            }
            headers = {"Authorization": basic(servicetitan.client_id, servicetitan.client_secret)}
            barrier.wait()
            try:
                response = web.post("/token", data=data, headers=headers)
                results[slot] = (response.status_code, response.json.get("error"))
            except Exception as error:  # a 500 propagates in TESTING mode: record it, fail below
                results[slot] = (500, repr(error))

        threads = [threading.Thread(target=redeem, args=(slot,)) for slot in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert sorted(results) == [(200, None), (400, "invalid_grant")], (round_number, results)
        assert make.count(AccessToken) == round_number + 1
        assert make.count(Pairing) == round_number + 1


# -- bound to the redirect URI (to the client: test_client_auth.py) ----------------------


def test_code_is_bound_to_the_redirect_uri(flows, make):
    make.directory()
    client = make.client(redirect_uris=[SERVICETITAN_CALLBACK, "https://servicetitan.example/other"])
    code = flows.code(client)

    response = flows.exchange(client, code, redirect_uri="https://servicetitan.example/other")

    assert_refused(response, make, 400, "invalid_grant")


def test_code_needs_the_redirect_uri_again(flows, make, servicetitan):
    code = flows.code(servicetitan)

    response = flows.exchange(servicetitan, code, redirect_uri=None)

    assert_refused(response, make, 400, "invalid_grant")


# -- PKCE -------------------------------------------------------------------------------


def test_pkce_with_the_right_verifier_succeeds(flows, servicetitan):
    code = flows.code(servicetitan, code_challenge=CHALLENGE, code_challenge_method="S256")

    response = flows.exchange(servicetitan, code, code_verifier=VERIFIER)

    assert response.status_code == 200, response.json


def test_pkce_with_a_wrong_verifier_is_invalid_grant(flows, make, servicetitan):
    code = flows.code(servicetitan, code_challenge=CHALLENGE, code_challenge_method="S256")

    response = flows.exchange(servicetitan, code, code_verifier=VERIFIER[:-1] + "Y")

    assert_refused(response, make, 400, "invalid_grant")


def test_pkce_without_the_verifier_is_invalid_request(flows, make, servicetitan):
    code = flows.code(servicetitan, code_challenge=CHALLENGE, code_challenge_method="S256")

    response = flows.exchange(servicetitan, code)

    assert_refused(response, make, 400, "invalid_request")


def test_a_verifier_for_a_code_issued_without_challenge_is_invalid_request(flows, make, servicetitan):
    code = flows.code(servicetitan)

    response = flows.exchange(servicetitan, code, code_verifier=VERIFIER)

    assert_refused(response, make, 400, "invalid_request")


# -- bound to the user and the chosen account -------------------------------------------


def test_code_carries_the_user_and_the_account_chosen_at_consent(flows, make, clean_app, servicetitan):
    code = flows.code(servicetitan, email="manager@mtech.example", account_id="acct-plumbing")

    response = flows.exchange(servicetitan, code)

    assert response.status_code == 200, response.json
    with clean_app.app_context():
        token = db.session.scalars(select(AccessToken)).one()
        assert (token.user.email, token.account_id) == ("manager@mtech.example", "acct-plumbing")
    info = flows.account_info(response.json["access_token"])
    assert info.json["Account"]["Id"] == "acct-plumbing"


def test_code_row_records_what_it_is_bound_to(flows, clean_app, frozen_clock, servicetitan):
    flows.code(servicetitan, nonce="n-0S6_WzA2Mj", code_challenge=CHALLENGE, code_challenge_method="S256")

    with clean_app.app_context():
        row = db.session.scalars(select(AuthorizationCode)).one()
        assert row.client_pk == find_client(servicetitan.client_id).id
        assert row.redirect_uri == servicetitan.redirect_uri
        assert row.nonce == "n-0S6_WzA2Mj"
        assert (row.code_challenge, row.code_challenge_method) == (CHALLENGE, "S256")
        assert row.user.email == "owner@mtech.example"
        assert row.account_id == "acct-hvac"
        assert (row.expires_at - frozen_clock.now()).total_seconds() == 60
        assert row.redeemed_at is None


# -- expiry -----------------------------------------------------------------------------


def test_code_works_until_its_lifetime_ends(flows, clean_app, frozen_clock, servicetitan):
    code = flows.code(servicetitan)
    frozen_clock.advance(clean_app.config["AUTHORIZATION_CODE_LIFETIME"] - 1)

    assert flows.exchange(servicetitan, code).status_code == 200


def test_expired_code_is_invalid_grant(flows, make, clean_app, frozen_clock, servicetitan):
    code = flows.code(servicetitan)
    assert clean_app.config["AUTHORIZATION_CODE_LIFETIME"] == 60
    frozen_clock.advance(60)

    response = flows.exchange(servicetitan, code)

    assert_refused(response, make, 400, "invalid_grant")
