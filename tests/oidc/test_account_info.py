"""GET /account-info: ServiceTitan's Base64 bearer, the PascalCase answer, request ids, and
RFC 6750 errors for anything that is not a live token we issued."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AccessToken, Pairing
from tests.flows import Flows

HVAC_ACCOUNT = {
    "Id": "acct-hvac",
    "Name": "MTech HVAC",
    "Profiles": [{"Id": "p-north", "Name": "North"}, {"Id": "p-south", "Name": "South"}],
}
# The platform document's example header, typo and all: `zV` makes it decode to a byte
# that is not UTF-8. Corrected (`ZV`) it is the document's example token, which we never issued.
DOCUMENTED_HEADER_WITH_TYPO = "ek5MWEFBQ1dmQ09iODU5TUJHUjEyeDRJNjd0V0pCN3k2zVVRVmRRVDh6c0xhYkJrOFI="
DOCUMENTED_HEADER = "ek5MWEFBQ1dmQ09iODU5TUJHUjEyeDRJNjd0V0pCN3k2ZVVRVmRRVDh6c0xhYkJrOFI="


@pytest.fixture
def servicetitan(make):
    make.directory()
    return make.client()


@pytest.fixture
def access_token(flows, servicetitan) -> str:
    return flows.tokens(servicetitan)["access_token"]


def get(web, authorization: str | None, query: str = "?request_id=req-1"):
    headers = {"Authorization": authorization} if authorization is not None else {}
    return web.get("/account-info" + query, headers=headers)


def ordered_json(response) -> list:
    """The body's keys in the order they were sent."""
    return list(json.loads(response.get_data(as_text=True)))


def request_ids(app) -> list:
    with app.app_context():
        return list(db.session.scalars(select(Pairing.request_id)))


# -- answers ----------------------------------------------------------------------------


def test_base64_bearer_answers_completed_with_the_exact_body(flows, access_token):
    response = flows.account_info(access_token, request_id="req-1")

    assert response.status_code == 200
    assert response.json == {"Status": "COMPLETED", "RequestId": "req-1", "Account": HVAC_ACCOUNT}
    assert ordered_json(response) == ["Status", "RequestId", "Account"]
    assert response.headers["Cache-Control"] == "no-store"


def test_raw_bearer_is_accepted_too(flows, access_token):
    response = flows.account_info(access_token, raw=True)

    assert response.status_code == 200
    assert response.json == {"Status": "COMPLETED", "RequestId": "req-1", "Account": HVAC_ACCOUNT}


def test_base64_uses_the_standard_alphabet_with_padding(flows, web, access_token):
    header = "Bearer " + base64.b64encode(access_token.encode()).decode()
    assert header.endswith("=")  # 43 characters of token: base64 needs padding

    assert get(web, header).status_code == 200


def test_the_account_chosen_at_consent_is_answered(flows, servicetitan):
    tokens = flows.tokens(servicetitan, email="manager@mtech.example", account_id="acct-plumbing")

    response = flows.account_info(tokens["access_token"])

    assert response.json == {
        "Status": "COMPLETED",
        "RequestId": "req-1",
        "Account": {"Id": "acct-plumbing", "Name": "MTech Plumbing", "Profiles": [{"Id": "p-main", "Name": "Main"}]},
    }


@pytest.mark.parametrize(
    ("email", "account_id"), [("manager@mtech.example", "acct-closed"), ("closed@mtech.example", None)]
)
def test_account_that_is_not_eligible_is_declined(flows, servicetitan, email, account_id):
    tokens = flows.tokens(servicetitan, email=email, account_id=account_id)

    response = flows.account_info(tokens["access_token"], request_id="req-declined")

    assert response.status_code == 200
    assert response.json == {"Status": "DECLINED", "RequestId": "req-declined"}
    assert ordered_json(response) == ["Status", "RequestId"]


def test_asynchronous_pairing_client_is_answered_processing(flows, make):
    make.directory()
    client = make.client(async_pairing=True)
    tokens = flows.tokens(client)

    response = flows.account_info(tokens["access_token"], request_id="req-async")

    assert response.status_code == 200
    assert response.json == {"Status": "PROCESSING", "RequestId": "req-async"}


# -- request ids ------------------------------------------------------------------------


def test_same_token_and_request_id_answer_the_same_again(flows, access_token):
    first = flows.account_info(access_token, request_id="req-1")
    second = flows.account_info(access_token, request_id="req-1", raw=True)

    assert second.status_code == 200
    assert second.get_data() == first.get_data()


def test_request_id_bound_to_another_token_is_refused(flows, clean_app, servicetitan, access_token):
    assert flows.account_info(access_token, request_id="req-1").status_code == 200
    other = Flows(clean_app.test_client()).tokens(servicetitan, email="manager@mtech.example", account_id="acct-hvac")

    response = flows.account_info(other["access_token"], request_id="req-1")

    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    assert sorted(request_ids(clean_app), key=str) == sorted(["req-1", None], key=str)


def test_same_token_with_another_request_id_is_refused(flows, clean_app, access_token):
    assert flows.account_info(access_token, request_id="req-1").status_code == 200

    response = flows.account_info(access_token, request_id="req-2")

    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    assert request_ids(clean_app) == ["req-1"]
    assert flows.account_info(access_token, request_id="req-1").status_code == 200


@pytest.mark.parametrize(
    "query",
    ["", "?request_id=", "?request_id=" + "r" * 129, "?other=1"],
    ids=["missing", "empty", "129-chars", "other-parameter"],
)
def test_unusable_request_id_is_invalid_request_and_binds_nothing(flows, web, clean_app, access_token, query):
    response = get(web, "Bearer " + base64.b64encode(access_token.encode()).decode(), query)

    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"
    assert request_ids(clean_app) == [None]
    assert flows.account_info(access_token, request_id="req-1").status_code == 200


def test_request_id_of_128_characters_is_accepted(flows, access_token):
    response = flows.account_info(access_token, request_id="r" * 128)

    assert response.status_code == 200
    assert response.json["RequestId"] == "r" * 128


# -- refused tokens: RFC 6750 -----------------------------------------------------------


def assert_invalid_token(response, app):
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.json["error"] == "invalid_token"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert request_ids(app) in ([], [None])


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic b3duZXI6c2VjcmV0",
        "Token abc",
        "Bearer: {token}",
        "Bearer %%%not-base64%%%",
        "Bearer " + DOCUMENTED_HEADER_WITH_TYPO,
        "Bearer " + DOCUMENTED_HEADER,
        "Bearer " + base64.b64encode(b"\xff\xfe\xfd\xfc").decode(),
        "Bearer unknown-token",
        "Bearer {token}x",
        "Bearer {token} {token}",
    ],
    ids=[
        "missing-header",
        "empty-header",
        "scheme-only",
        "scheme-and-space",
        "basic-scheme",
        "token-scheme",
        "documented-colon-typo",
        "undecodable-base64",
        "documented-header-with-typo",
        "documented-example-token",
        "non-utf8-base64",
        "unknown-token",
        "token-plus-one-character",
        "two-tokens",
    ],
)
def test_anything_but_a_live_token_is_a_401_with_a_bearer_challenge(request, web, clean_app, authorization):
    if authorization is not None and "{token}" in authorization:
        # Only these cases need a real token (and the seconds that a pairing costs).
        authorization = authorization.replace("{token}", request.getfixturevalue("access_token"))

    assert_invalid_token(get(web, authorization), clean_app)


def test_expired_token_is_refused(flows, web, clean_app, frozen_clock, servicetitan):
    access_token = flows.tokens(servicetitan)["access_token"]

    frozen_clock.advance(clean_app.config["ACCESS_TOKEN_LIFETIME"] - 1)
    assert flows.account_info(access_token, request_id="req-1").status_code == 200
    frozen_clock.advance(1)

    response = flows.account_info(access_token, request_id="req-1")
    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_expired_token_binds_no_request_id(flows, clean_app, frozen_clock, servicetitan):
    access_token = flows.tokens(servicetitan)["access_token"]
    frozen_clock.advance(3600)

    assert_invalid_token(flows.account_info(access_token), clean_app)


def test_revoked_token_is_refused(flows, clean_app, access_token):
    with clean_app.app_context():
        db.session.execute(update(AccessToken).values(revoked_at=datetime.now(UTC)))
        db.session.commit()

    assert_invalid_token(flows.account_info(access_token), clean_app)
    assert_invalid_token(flows.account_info(access_token, raw=True), clean_app)
