"""Requirements of OpenID Connect Core 3.1.2 and RFC 9700 section 2 that no other test file
shows on its own: the id_token_hint, prompt=select_account, unknown parameters, and CORS.
The table in docs/security.md names these tests beside the others."""

from __future__ import annotations

import base64
import json

import pytest

from oidc_provider.core.models import AuthorizationCode
from tests.flows import form_post_target, hidden_fields


@pytest.fixture
def servicetitan(make):
    make.directory()
    return make.client()


def unsigned_id_token(claims: dict) -> str:
    def segment(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'RS256', 'typ': 'JWT'})}.{segment(claims)}.c2lnbmF0dXJl"


def subject_from(tokens: dict) -> str:
    payload = tokens["id_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def test_an_id_token_hint_naming_the_signed_in_user_gets_a_code(servicetitan, flows, make):
    subject = subject_from(flows.tokens(servicetitan))

    response = flows.authorize(servicetitan, id_token_hint=unsigned_id_token({"sub": subject}), prompt="none")

    assert "code" in flows.authorization_result(response)


def test_an_id_token_hint_naming_another_user_is_login_required_and_issues_nothing(servicetitan, flows, make):
    flows.tokens(servicetitan)  # the owner is signed in and has consented
    issued = make.count(AuthorizationCode)

    response = flows.authorize(servicetitan, id_token_hint=unsigned_id_token({"sub": "someone-else"}))

    assert form_post_target(response.text) == servicetitan.redirect_uri
    assert hidden_fields(response.text)["error"] == "login_required"
    assert make.count(AuthorizationCode) == issued


@pytest.mark.parametrize("hint", ["not-a-jwt", "a.b.c", unsigned_id_token({"name": "no sub"})])
def test_an_id_token_hint_that_is_no_id_token_is_invalid_request(servicetitan, flows, make, hint):
    flows.tokens(servicetitan)
    issued = make.count(AuthorizationCode)

    response = flows.authorize(servicetitan, id_token_hint=hint)

    assert hidden_fields(response.text)["error"] == "invalid_request"
    assert make.count(AuthorizationCode) == issued


def test_prompt_select_account_shows_the_choice_despite_remembered_consent(servicetitan, flows, make):
    flows.tokens(servicetitan)  # remembered consent: the next request would get a code at once
    issued = make.count(AuthorizationCode)

    response = flows.authorize(servicetitan, prompt="select_account")

    assert response.status_code == 200
    assert 'name="decision"' in response.text and 'name="account_id"' in response.text
    assert make.count(AuthorizationCode) == issued


def test_unknown_authorization_parameters_are_ignored(servicetitan, flows):
    code = flows.code(servicetitan, display="popup", ui_locales="fr", acr_values="urn:x", tenant="42")

    assert flows.exchange(servicetitan, code).status_code == 200


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/authorize"),
        ("OPTIONS", "/authorize"),
        ("POST", "/authorize"),
        ("OPTIONS", "/token"),
        ("GET", "/.well-known/openid-configuration"),
    ],
)
def test_no_endpoint_answers_cross_origin_requests(web, method, path):
    """No CORS anywhere: ServiceTitan's calls are server to server, and the authorization
    endpoint must never allow it (RFC 9700 2.6)."""
    response = web.open(
        path, method=method, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )

    assert not [name for name in response.headers.keys() if name.lower().startswith("access-control-")]
