"""The authorization endpoint: whom it trusts, what it refuses, and how it says so.

A client or redirect URI that cannot be trusted gets a page and no redirect. Once the
redirect URI is trusted, every error goes back to it through the response mode, with the
state. Each refusal is sent by a signed-in user who has already consented, so that a
request the endpoint wrongly let through would issue a code at once.
"""

from __future__ import annotations

import pytest

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AccessToken, AuthorizationCode
from oidc_provider.oidc.client_registry import find_client, set_enabled
from tests.factories import SERVICETITAN_CALLBACK, RegisteredClient
from tests.flows import form_post_target, hidden_fields

# RFC 7636 appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.fixture
def client(make) -> RegisteredClient:
    make.directory()
    return make.client()


@pytest.fixture
def consented(client, flows, make) -> RegisteredClient:
    """The owner is signed in and has consented once: a good request now yields a code
    without any page in between (one code row exists)."""
    flows.code(client)
    assert make.count(AuthorizationCode) == 1
    return client


def assert_error_page(response, error: str) -> None:
    """A page for the user, and the browser sent nowhere."""
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Location" not in response.headers
    assert "<form" not in response.text
    assert f"<code>{error}</code>" in response.text


def assert_returned_error(response, client: RegisteredClient, error: str, state: str = "st-state-1") -> dict:
    """The error goes back to the trusted redirect URI through form_post, with the state."""
    assert response.status_code == 200, response.text
    assert form_post_target(response.text) == client.redirect_uri
    fields = hidden_fields(response.text)
    assert fields["error"] == error
    assert fields["state"] == state
    assert fields["iss"] == "http://localhost"
    assert set(fields) <= {"error", "error_description", "state", "iss"}
    return fields


# -- the client or the redirect URI cannot be trusted ------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"client_id": "unknown-client"}, id="unknown-client_id"),
        pytest.param({"client_id": None}, id="missing-client_id"),
        pytest.param({"client_id": "x" * 65}, id="over-long-client_id"),
        pytest.param({"redirect_uri": None}, id="missing-redirect_uri"),
        pytest.param({"redirect_uri": SERVICETITAN_CALLBACK + "/"}, id="trailing-slash"),
        pytest.param({"redirect_uri": "https://servicetitan.example/Callback"}, id="path-case"),
        pytest.param({"redirect_uri": "https://ServiceTitan.example/callback"}, id="host-case"),
        pytest.param({"redirect_uri": SERVICETITAN_CALLBACK + "?next=x"}, id="extra-query"),
        pytest.param({"redirect_uri": SERVICETITAN_CALLBACK + "#frag"}, id="fragment"),
        pytest.param({"redirect_uri": "http://servicetitan.example/callback"}, id="http-scheme"),
        pytest.param({"redirect_uri": "https://evil.example/callback"}, id="other-host"),
        # An error the client would otherwise hear about must not reach an unknown URI.
        pytest.param({"redirect_uri": "https://evil.example/cb", "response_type": "token"}, id="bad-uri-and-type"),
        pytest.param({"redirect_uri": "https://evil.example/cb", "scope": "profile"}, id="bad-uri-and-scope"),
        pytest.param({"redirect_uri": "https://evil.example/cb", "prompt": "none login"}, id="bad-uri-and-prompt"),
        pytest.param({"redirect_uri": "https://evil.example/cb", "response_mode": "query"}, id="bad-uri-query-mode"),
    ],
)
def test_untrusted_client_or_redirect_uri_gets_an_error_page_and_no_redirect(consented, flows, make, params):
    response = flows.authorize(consented, **params)

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Location" not in response.headers
    assert "<form" not in response.text
    assert "Content-Security-Policy" in response.headers
    assert make.count(AuthorizationCode) == 1


def test_untrusted_request_does_not_even_lead_to_sign_in(flows, client):
    response = flows.authorize(client, redirect_uri="https://evil.example/callback")

    assert_error_page(response, "invalid_request")
    assert flows.web.get_cookie("session") is None


def test_unknown_client_is_named_invalid_client(flows, client):
    response = flows.authorize(client, client_id="unknown-client")

    assert_error_page(response, "invalid_client")


def test_unregistered_redirect_uri_is_named_invalid_request(flows, client):
    response = flows.authorize(client, redirect_uri=SERVICETITAN_CALLBACK + "/")

    assert_error_page(response, "invalid_request")


def test_disabled_client_is_not_trusted(consented, flows, make, clean_app):
    with clean_app.app_context():
        set_enabled(find_client(consented.client_id), False)

    response = flows.authorize(consented)

    assert_error_page(response, "invalid_client")
    assert make.count(AuthorizationCode) == 1


def test_redirect_uri_is_matched_among_several_registered(make, flows):
    make.directory()
    second = "https://servicetitan.example/other-callback"
    client = make.client(redirect_uris=[SERVICETITAN_CALLBACK, second])
    client.redirect_uri = second

    response = flows.authorize(client)
    response = flows.sign_in(response)
    response = flows.decide(response)

    assert form_post_target(response.text) == second
    assert "code" in hidden_fields(response.text)


@pytest.mark.parametrize("name", ["client_id", "redirect_uri", "response_type", "scope", "state"])
def test_repeated_request_parameter_is_refused_before_anything_is_trusted(consented, web, make, name):
    """RFC 6749 3.1: which of two values would we trust? Neither: a page, no redirect."""
    query = {
        "client_id": consented.client_id,
        "response_type": "code",
        "response_mode": "form_post",
        "scope": consented.scope,
        "state": "st-state-1",
        "redirect_uri": consented.redirect_uri,
    }
    pairs = list(query.items()) + [(name, query[name])]

    response = web.get("/authorize", query_string=pairs)

    assert_error_page(response, "invalid_request")
    assert make.count(AuthorizationCode) == 1


# -- errors after the redirect URI is trusted go back to it ------------------------------


@pytest.mark.parametrize(
    "params, error",
    [
        pytest.param({"response_type": "token"}, "unsupported_response_type", id="response_type-token"),
        pytest.param({"response_type": "code id_token"}, "unsupported_response_type", id="response_type-hybrid"),
        pytest.param({"response_type": None}, "unsupported_response_type", id="response_type-missing"),
        pytest.param({"response_mode": "fragment"}, "invalid_request", id="response_mode-fragment"),
        pytest.param({"response_mode": "form_post.jwt"}, "invalid_request", id="response_mode-junk"),
        pytest.param({"scope": "profile email"}, "invalid_scope", id="scope-without-openid"),
        pytest.param({"scope": None}, "invalid_scope", id="scope-missing"),
        pytest.param({"scope": "OpenID profile"}, "invalid_scope", id="scope-openid-wrong-case"),
        pytest.param({"prompt": "none login"}, "invalid_request", id="prompt-none-with-login"),
        pytest.param({"prompt": "consent none"}, "invalid_request", id="prompt-none-with-consent"),
        pytest.param({"max_age": "ten"}, "invalid_request", id="max_age-word"),
        pytest.param({"max_age": "-1"}, "invalid_request", id="max_age-negative"),
        pytest.param({"max_age": "1.5"}, "invalid_request", id="max_age-fraction"),
        pytest.param({"max_age": "12345678901"}, "invalid_request", id="max_age-over-long"),
        pytest.param({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported", id="request"),
        pytest.param({"request_uri": "https://st.example/r/1"}, "request_uri_not_supported", id="request_uri"),
        pytest.param({"nonce": "n" * 256}, "invalid_request", id="nonce-over-long"),
        pytest.param({"login_hint": "a" * 255}, "invalid_request", id="login_hint-over-long"),
        pytest.param({"scope": "openid " + "x" * 1024}, "invalid_request", id="scope-over-long"),
    ],
)
def test_error_after_the_redirect_uri_is_trusted_goes_back_by_form_post(consented, flows, make, params, error):
    response = flows.authorize(consented, **params)

    assert_returned_error(response, consented, error)
    assert make.count(AuthorizationCode) == 1


@pytest.mark.parametrize(
    "params, error",
    [
        pytest.param({"response_type": "token"}, "unsupported_response_type", id="response_type"),
        pytest.param({"scope": "profile"}, "invalid_scope", id="scope"),
        pytest.param({"prompt": "none login"}, "invalid_request", id="prompt"),
    ],
)
def test_error_with_response_mode_left_out_goes_back_by_form_post(consented, flows, make, params, error):
    response = flows.authorize(consented, response_mode=None, **params)

    assert_returned_error(response, consented, error)
    assert make.count(AuthorizationCode) == 1


def test_over_long_state_is_refused_and_echoed(consented, flows, make):
    state = "s" * 5000

    response = flows.authorize(consented, state=state)

    fields = assert_returned_error(response, consented, "invalid_request", state=state)
    assert "state" in fields["error_description"]
    assert make.count(AuthorizationCode) == 1


@pytest.mark.parametrize(
    "name, values",
    [
        ("prompt", ["login", "consent"]),
        ("nonce", ["n-1", "n-2"]),
        ("max_age", ["60", "60"]),
        ("response_mode", ["form_post", "form_post"]),
        ("code_challenge", [CHALLENGE, CHALLENGE]),
        ("code_challenge_method", ["S256", "S256"]),
    ],
)
def test_repeated_parameter_after_trust_goes_back_by_form_post(consented, web, make, name, values):
    pairs = [
        ("client_id", consented.client_id),
        ("response_type", "code"),
        ("scope", consented.scope),
        ("state", "st-state-1"),
        ("redirect_uri", consented.redirect_uri),
    ]
    if name == "code_challenge_method":
        pairs.append(("code_challenge", CHALLENGE))
    if name == "code_challenge":
        pairs.append(("code_challenge_method", "S256"))
    pairs += [(name, value) for value in values]

    response = web.get("/authorize", query_string=pairs)

    fields = assert_returned_error(response, consented, "invalid_request")
    assert name in fields["error_description"]
    assert make.count(AuthorizationCode) == 1


def test_post_request_is_answered_like_get(consented, web, make):
    """OpenID Connect Core 3.1.2.1: the endpoint takes GET and POST, without our CSRF token
    (the relying party's own page posts it)."""
    response = web.post(
        "/authorize",
        data={
            "client_id": consented.client_id,
            "response_type": "code",
            "scope": consented.scope,
            "state": "st-state-post",
            "redirect_uri": consented.redirect_uri,
        },
    )

    assert response.status_code == 200, response.text
    assert form_post_target(response.text) == consented.redirect_uri
    fields = hidden_fields(response.text)
    assert set(fields) == {"code", "state", "iss"}
    assert fields["state"] == "st-state-post"
    assert make.count(AuthorizationCode) == 2


def test_post_request_error_goes_back_by_form_post(consented, web, make):
    response = web.post(
        "/authorize",
        data={
            "client_id": consented.client_id,
            "response_type": "code",
            "scope": "profile",
            "state": "st-state-1",
            "redirect_uri": consented.redirect_uri,
        },
    )

    assert_returned_error(response, consented, "invalid_scope")
    assert make.count(AuthorizationCode) == 1


def test_unknown_prompt_value_is_ignored(consented, flows, make):
    """OpenID Connect Core 3.1.2.1 lists the values; others are not errors."""
    response = flows.authorize(consented, prompt="select_nothing")

    assert set(flows.authorization_result(response)) == {"code", "state", "iss"}
    assert make.count(AuthorizationCode) == 2


# -- scopes --------------------------------------------------------------------------------


def test_scopes_beyond_the_registration_are_dropped_not_refused(make, flows, clean_app):
    make.directory()
    client = make.client(scope="openid email")

    code = flows.code(client, scope="openid profile email address phone")
    response = flows.exchange(client, code)

    assert response.status_code == 200, response.json
    assert response.json["scope"] == "openid email"
    with clean_app.app_context():
        row = db.session.scalar(db.select(AuthorizationCode))
        assert row.scope == "openid email"
        assert row.requested_scope == "openid profile email address phone"
    claims = flows.web.get("/userinfo", headers={"Authorization": f"Bearer {response.json['access_token']}"}).json
    assert claims["email"] == "owner@mtech.example"
    assert "name" not in claims


def test_scope_equal_to_the_request_is_not_repeated_in_the_token_response(client, flows):
    tokens = flows.tokens(client, scope="openid profile")

    assert "scope" not in tokens


# -- PKCE (S256 only) ------------------------------------------------------------------------


def test_s256_challenge_is_accepted_and_verified(client, flows, make):
    code = flows.code(client, code_challenge=CHALLENGE, code_challenge_method="S256")

    response = flows.exchange(client, code, code_verifier=VERIFIER)

    assert response.status_code == 200, response.json
    assert make.count(AccessToken) == 1


def test_s256_wrong_verifier_is_invalid_grant(client, flows, make):
    code = flows.code(client, code_challenge=CHALLENGE, code_challenge_method="S256")

    response = flows.exchange(client, code, code_verifier="x" * 43)

    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"
    assert make.count(AccessToken) == 0


def test_s256_missing_verifier_is_refused(client, flows, make):
    code = flows.code(client, code_challenge=CHALLENGE, code_challenge_method="S256")

    response = flows.exchange(client, code)

    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    assert make.count(AccessToken) == 0


def test_verifier_without_a_challenge_is_refused(client, flows, make):
    """RFC 9700 4.8: a verifier for a code that had no challenge is a downgrade attempt."""
    code = flows.code(client)

    response = flows.exchange(client, code, code_verifier=VERIFIER)

    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    assert make.count(AccessToken) == 0


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"code_challenge": VERIFIER, "code_challenge_method": "plain"}, id="plain"),
        pytest.param({"code_challenge": CHALLENGE}, id="no-method-means-plain"),
        pytest.param({"code_challenge": CHALLENGE, "code_challenge_method": "s256"}, id="method-wrong-case"),
        pytest.param({"code_challenge": CHALLENGE, "code_challenge_method": "S512"}, id="unknown-method"),
        pytest.param({"code_challenge": "short", "code_challenge_method": "S256"}, id="too-short"),
        pytest.param({"code_challenge": CHALLENGE[:-1] + "=", "code_challenge_method": "S256"}, id="bad-character"),
        pytest.param({"code_challenge": "a" * 129, "code_challenge_method": "S256"}, id="too-long"),
        pytest.param({"code_challenge_method": "S256"}, id="method-without-challenge"),
    ],
)
def test_pkce_other_than_s256_is_refused(consented, flows, make, params):
    response = flows.authorize(consented, **params)

    assert_returned_error(response, consented, "invalid_request")
    assert make.count(AuthorizationCode) == 1
