"""Client authentication at the token endpoint: Basic, body, or both when they agree.

Every refusal is a 401 ``invalid_client`` with a ``WWW-Authenticate`` challenge, never a
500, and issues nothing.
"""

from __future__ import annotations

import base64

import pytest

from oidc_provider.core.models import AccessToken, Pairing
from oidc_provider.oidc.client_registry import find_client, rotate_secret, set_enabled
from tests.factories import RegisteredClient
from tests.flows import basic


@pytest.fixture
def servicetitan(make):
    make.directory()
    return make.client()


def assert_invalid_client(response, make):
    assert response.status_code == 401, response.json
    assert response.json["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert response.headers["Cache-Control"] == "no-store"
    assert make.count(AccessToken) == 0
    assert make.count(Pairing) == 0


def raw_basic(decoded: bytes) -> str:
    return "Basic " + base64.b64encode(decoded).decode()


# -- accepted ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("basic_auth", "body_auth"),
    [(True, False), (False, True), (True, True)],
    ids=["basic-only", "body-only", "both-agreeing"],
)
def test_each_accepted_way_to_authenticate_gets_tokens(flows, servicetitan, basic_auth, body_auth):
    code = flows.code(servicetitan)

    response = flows.exchange(servicetitan, code, basic_auth=basic_auth, body_auth=body_auth)

    assert response.status_code == 200, response.json
    assert response.json["token_type"] == "Bearer"


# -- Basic and body disagree ------------------------------------------------------------


def test_body_client_id_that_differs_from_basic_is_refused(flows, make, servicetitan):
    other = make.client(name="Other")
    code = flows.code(servicetitan)

    response = flows.exchange(servicetitan, code, client_id=other.client_id)

    assert_invalid_client(response, make)


def test_body_secret_that_differs_from_basic_is_refused(flows, make, servicetitan):
    code = flows.code(servicetitan)

    response = flows.exchange(servicetitan, code, client_secret=servicetitan.client_secret + "x")

    assert_invalid_client(response, make)


def test_basic_for_another_client_with_body_for_this_one_is_refused(flows, web, make, servicetitan):
    other = make.client(name="Other")
    code = flows.code(servicetitan)

    response = web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": servicetitan.redirect_uri,
            "client_id": servicetitan.client_id,
            "client_secret": servicetitan.client_secret,
        },
        headers={"Authorization": basic(other.client_id, other.client_secret)},
    )

    assert_invalid_client(response, make)


def test_a_refused_pair_does_not_spend_the_code(flows, make, servicetitan):
    code = flows.code(servicetitan)
    assert flows.exchange(servicetitan, code, client_secret="wrong").status_code == 401

    response = flows.exchange(servicetitan, code)

    assert response.status_code == 200, response.json


# -- wrong or missing credentials -------------------------------------------------------


@pytest.mark.parametrize(("basic_auth", "body_auth"), [(True, False), (False, True)], ids=["basic", "body"])
def test_wrong_secret_is_refused(flows, web, make, servicetitan, basic_auth, body_auth):
    code = flows.code(servicetitan)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": servicetitan.redirect_uri}
    headers = {}
    if basic_auth:
        headers["Authorization"] = basic(servicetitan.client_id, "wrong-secret")
    if body_auth:
        data.update(client_id=servicetitan.client_id, client_secret="wrong-secret")

    response = web.post("/token", data=data, headers=headers)

    assert_invalid_client(response, make)


def test_unknown_client_is_refused(flows, web, make, servicetitan):
    code = flows.code(servicetitan)

    response = web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": servicetitan.redirect_uri,
            "client_id": "no-such-client",
            "client_secret": "whatever",
        },
        headers={"Authorization": basic("no-such-client", "whatever")},
    )

    assert_invalid_client(response, make)


def test_disabled_client_is_refused(flows, make, clean_app, servicetitan):
    code = flows.code(servicetitan)
    with clean_app.app_context():
        set_enabled(find_client(servicetitan.client_id), False)

    response = flows.exchange(servicetitan, code)

    assert_invalid_client(response, make)


def test_no_credentials_are_refused(flows, make, servicetitan):
    code = flows.code(servicetitan)

    response = flows.exchange(servicetitan, code, basic_auth=False, body_auth=False)

    assert_invalid_client(response, make)


def test_client_id_without_secret_is_refused(flows, make, servicetitan):
    code = flows.code(servicetitan)

    response = flows.exchange(servicetitan, code, basic_auth=False, client_secret=None)

    assert_invalid_client(response, make)


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        raw_basic(b"\xff\xfe\xfd:\xfc"),
        raw_basic(b":secret-without-id"),
        "Basic",
        "Basic ",
    ],
    ids=["not-base64", "no-colon", "non-utf8", "empty-client-id", "no-value", "empty-value"],
)
def test_malformed_basic_header_is_invalid_client_not_500(flows, web, make, servicetitan, header):
    code = flows.code(servicetitan)

    response = web.post(
        "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": servicetitan.redirect_uri},
        headers={"Authorization": header},
    )

    assert_invalid_client(response, make)


def test_malformed_basic_header_is_refused_even_with_good_body_credentials(flows, web, make, servicetitan):
    code = flows.code(servicetitan)

    response = web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": servicetitan.redirect_uri,
            "client_id": servicetitan.client_id,
            "client_secret": servicetitan.client_secret,
        },
        headers={"Authorization": "Basic %%%"},
    )

    assert_invalid_client(response, make)


def test_another_clients_code_is_invalid_grant(flows, make, servicetitan):
    other = make.client(name="Other")
    code = flows.code(servicetitan)

    response = flows.exchange(other, code, redirect_uri=servicetitan.redirect_uri)

    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"
    assert make.count(AccessToken) == 0


# -- rotated secret ---------------------------------------------------------------------


def test_rotated_secret_old_one_works_until_grace_period_ends(flows, make, clean_app, frozen_clock, servicetitan):
    with clean_app.app_context():
        new_secret = rotate_secret(find_client(servicetitan.client_id), grace_seconds=300)
    old = servicetitan
    new = RegisteredClient(old.client_id, new_secret, old.redirect_uri, old.scope)

    frozen_clock.advance(299)
    assert flows.exchange(old, flows.code(old)).status_code == 200
    assert flows.exchange(new, flows.code(new)).status_code == 200

    frozen_clock.advance(1)
    refused = flows.exchange(old, flows.code(old))
    assert refused.status_code == 401
    assert refused.json["error"] == "invalid_client"
    assert refused.headers["WWW-Authenticate"].startswith("Basic ")
    assert make.count(AccessToken) == 2
    assert flows.exchange(new, flows.code(new)).status_code == 200


def test_rotated_secret_without_grace_period_refuses_the_old_one_at_once(flows, make, clean_app, servicetitan):
    with clean_app.app_context():
        rotate_secret(find_client(servicetitan.client_id))
    code = flows.code(servicetitan)

    response = flows.exchange(servicetitan, code)

    assert_invalid_client(response, make)
