"""Hostile input that once reached a 500, each pinned by the exact request: NUL characters
(PostgreSQL refuses to compare text with one), characters Authlib refuses in its own error
descriptions, values longer than their column, shapes the directory import did not expect."""

from __future__ import annotations

import base64
import re

import pytest

from oidc_provider.core.models import AccessToken, Account, AuthorizationCode, Pairing
from oidc_provider.directory.store import DirectoryImportError, import_directory
from oidc_provider.oidc.authorization_checks import PARAMETER_LIMITS
from tests.factories import SERVICETITAN_CALLBACK
from tests.flows import form_post_target, hidden_fields


@pytest.fixture
def servicetitan(make):
    make.directory()
    return make.client()


@pytest.mark.parametrize("response_type", ["é", '"', "\\", "code\x1f", "tøken"])
def test_a_response_type_with_characters_oauth_errors_cannot_carry_is_unsupported_not_a_500(
    servicetitan, flows, make, response_type
):
    response = flows.authorize(servicetitan, response_type=response_type)

    assert response.status_code == 200
    assert form_post_target(response.text) == SERVICETITAN_CALLBACK
    fields = hidden_fields(response.text)
    assert fields["error"] == "unsupported_response_type"
    assert fields["state"] == "st-state-1"
    assert make.count(AuthorizationCode) == 0


def test_such_a_response_type_with_an_unregistered_redirect_uri_sends_the_browser_nowhere(servicetitan, flows):
    response = flows.authorize(servicetitan, response_type="é", redirect_uri="https://evil.example/cb")

    assert response.status_code == 400
    assert "Location" not in response.headers and "<form" not in response.text
    assert "<code>unsupported_response_type</code>" in response.text


@pytest.mark.parametrize(
    "redirect_uri", ['https://evil.example/"', "https://évil.example/cb", "https://evil.example/\\"]
)
def test_an_unregistered_redirect_uri_with_such_characters_is_an_error_page_not_a_500(
    servicetitan, flows, make, redirect_uri
):
    response = flows.authorize(servicetitan, redirect_uri=redirect_uri)

    assert response.status_code == 400
    assert "Location" not in response.headers and "<form" not in response.text
    assert "<code>invalid_request</code>" in response.text
    assert make.count(AuthorizationCode) == 0


# -- NUL characters -----------------------------------------------------------------------------


def assert_nul_refused_in_json(response) -> None:
    assert response.status_code == 400, response.text
    assert response.json["error"] == "invalid_request"
    assert "NUL" in response.json["error_description"]


def test_a_nul_in_a_token_request_is_invalid_request(servicetitan, flows, web, make):
    code = flows.code(servicetitan)

    response = web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": "a\x00",
            "client_secret": "x",
            "redirect_uri": servicetitan.redirect_uri,
        },
    )

    assert_nul_refused_in_json(response)
    assert make.count(AccessToken) == 0


def test_a_nul_in_the_basic_header_is_invalid_client(servicetitan, flows, web, make):
    code = flows.code(servicetitan)
    header = "Basic " + base64.b64encode(b"a\x00b:secret").decode()

    response = web.post(
        "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": servicetitan.redirect_uri},
        headers={"Authorization": header},
    )

    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    assert make.count(AccessToken) == 0


def test_a_nul_in_the_request_id_is_invalid_request(servicetitan, flows, make):
    token = flows.tokens(servicetitan)["access_token"]

    response = flows.account_info(token, request_id="req\x00")

    assert_nul_refused_in_json(response)
    assert flows.account_info(token, request_id="req-after").status_code == 200


@pytest.mark.parametrize(
    "path", ["/authorize?client_id=a%00&response_type=code", "/authorize/resume?pending=%00", "/login?pending=%00"]
)
def test_a_nul_in_a_query_is_an_error_page(web, path):
    response = web.get(path)

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Location" not in response.headers


def test_a_nul_in_the_sign_in_form_is_an_error_page_and_no_sign_in(servicetitan, web):
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text).group(1)

    response = web.post("/login", data={"csrf_token": token, "email": "owner@mtech.example\x00", "password": "x"})

    assert response.status_code == 400
    assert "You are signed in as" not in web.get("/").text


# -- values as long as their limit ---------------------------------------------------------------------


def test_a_scope_at_its_length_limit_is_kept_with_the_code_and_exchanged(servicetitan, flows, make):
    """The requested scope is stored beside the code: its limit is the column's size."""
    scope = "openid " + "x" * (PARAMETER_LIMITS["scope"] - len("openid "))

    tokens = flows.tokens(servicetitan, scope=scope)

    assert tokens["scope"] == "openid"
    assert make.count(Pairing) == 1


# -- the directory document ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document, problem",
    [
        ({"accounts": [{"id": ["acct"], "name": "A"}]}, "accounts[0].id"),
        ({"accounts": [{"id": {"x": 1}, "name": "A"}, {"id": {"x": 1}, "name": "B"}]}, "accounts[1].id"),
        (
            {"accounts": [{"id": "a", "name": "A", "profiles": [{"id": "p\x00", "name": "P"}]}]},
            "accounts[0].profiles[0].id",
        ),
        ({"users": [{"email": "u@mtech.example", "accounts": ["acct\x00"]}]}, "users[0].accounts"),
    ],
)
def test_a_directory_document_of_unexpected_shape_is_refused_with_its_problems(clean_app, make, document, problem):
    with clean_app.app_context(), pytest.raises(DirectoryImportError) as refused:
        import_directory(document)

    assert any(p.where.startswith(problem) for p in refused.value.problems), refused.value.problems
    assert make.count(Account) == 0
