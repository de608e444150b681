"""Limits on what the outside world may send, each answered with a clean 4xx and nothing
issued: the request size, every parameter's length, repeated and misplaced token
parameters, and the number of redirect URIs a client may register."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from oidc_provider.core.models import AccessToken, AuthorizationCode, Client, Pairing
from oidc_provider.core.problems import Problem, by_where
from oidc_provider.oidc.authorization_checks import PARAMETER_LIMITS, TOKEN_PARAMETER_LIMITS
from oidc_provider.oidc.client_registry import REDIRECT_URIS_MAX, ClientSettings, ClientSettingsError, create_client
from tests.flows import basic, form_post_target, hidden_fields

OVERSIZED = "x" * (64 * 1024 + 1)


@pytest.fixture
def servicetitan(make):
    make.directory()
    return make.client()


# -- request size ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/token"])
def test_an_oversized_back_channel_body_is_a_413_in_json(web, make, path):
    response = web.post(path, data={"grant_type": "authorization_code", "code": OVERSIZED})

    assert response.status_code == 413
    assert response.mimetype == "application/json"
    assert response.json["error"] == "invalid_request"
    assert make.count(AccessToken) == 0


@pytest.mark.parametrize("path", ["/login", "/authorize", "/authorize/decision", "/logout"])
def test_an_oversized_body_to_a_page_is_a_413_page(web, make, path):
    response = web.post(path, data={"email": "owner@mtech.example", "padding": OVERSIZED})

    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "We could not continue" in response.text
    assert make.count(AuthorizationCode) == 0


def test_the_size_limit_follows_the_setting(web, clean_app, servicetitan, monkeypatch):
    monkeypatch.setitem(clean_app.config, "MAX_CONTENT_LENGTH", 1024)

    response = web.post("/token", data={"grant_type": "authorization_code", "code": "x" * 1100})

    assert response.status_code == 413


# -- the authorization request's parameters ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(PARAMETER_LIMITS) - {"client_id", "redirect_uri"}))
def test_an_over_long_authorization_parameter_goes_back_as_invalid_request(servicetitan, flows, make, name):
    flows.code(servicetitan)  # signed in and consented: a request let through would issue a code at once
    issued = make.count(AuthorizationCode)

    params = {name: "a" * (PARAMETER_LIMITS[name] + 1)}
    if name == "code_challenge_method":
        params["code_challenge"] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    response = flows.authorize(servicetitan, **params)

    assert response.status_code == 200
    assert form_post_target(response.text) == servicetitan.redirect_uri
    fields = hidden_fields(response.text)
    assert fields["error"] == "invalid_request"
    assert f"'{name}'" in fields["error_description"]
    assert make.count(AuthorizationCode) == issued


@pytest.mark.parametrize("name, error", [("client_id", "invalid_client"), ("redirect_uri", "invalid_request")])
def test_an_over_long_client_id_or_redirect_uri_gets_a_page_and_no_redirect(servicetitan, flows, make, name, error):
    response = flows.authorize(servicetitan, **{name: "https://servicetitan.example/" + "a" * PARAMETER_LIMITS[name]})

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Location" not in response.headers
    assert f"<code>{error}</code>" in response.text
    assert make.count(AuthorizationCode) == 0


# -- the token request's parameters ----------------------------------------------------------------


def assert_invalid_request(response, make, mentions: str) -> None:
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_request"
    assert mentions in response.json["error_description"]
    assert response.headers["Cache-Control"] == "no-store"
    assert make.count(AccessToken) == 0
    assert make.count(Pairing) == 0


@pytest.mark.parametrize("name", sorted(TOKEN_PARAMETER_LIMITS))
def test_an_over_long_token_parameter_is_invalid_request(servicetitan, flows, make, name):
    form = {"code": flows.code(servicetitan), name: "a" * (TOKEN_PARAMETER_LIMITS[name] + 1)}

    response = flows.exchange(
        servicetitan, form.pop("code"), basic_auth=name not in ("client_id", "client_secret"), **form
    )

    assert_invalid_request(response, make, f"'{name}' parameter is longer than {TOKEN_PARAMETER_LIMITS[name]}")


@pytest.mark.parametrize("name", ["code", "redirect_uri", "client_id", "client_secret", "grant_type"])
def test_a_repeated_token_parameter_is_invalid_request(servicetitan, flows, make, web, name):
    code = flows.code(servicetitan)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": servicetitan.redirect_uri,
        "client_id": servicetitan.client_id,
        "client_secret": servicetitan.client_secret,
    }
    body = MultiDict(list(form.items()) + [(name, form[name])])

    response = web.post(
        "/token", data=body, headers={"Authorization": basic(servicetitan.client_id, servicetitan.client_secret)}
    )

    assert_invalid_request(response, make, f"'{name}' parameter is repeated")


@pytest.mark.parametrize("name", ["code", "client_secret", "redirect_uri"])
def test_a_token_parameter_in_the_uri_is_invalid_request(servicetitan, flows, make, web, name):
    """A code or a secret in the URI would sit in every access log on its way."""
    code = flows.code(servicetitan)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": servicetitan.redirect_uri,
        "client_id": servicetitan.client_id,
        "client_secret": servicetitan.client_secret,
    }
    value = form.pop(name)

    response = web.post(
        "/token",
        query_string={name: value},
        data=form,
        headers={"Authorization": basic(servicetitan.client_id, servicetitan.client_secret)},
    )

    assert_invalid_request(response, make, "must be sent in the request body")


def test_a_code_at_its_length_limit_is_read_and_refused_as_unknown(servicetitan, flows, make):
    response = flows.exchange(servicetitan, "a" * TOKEN_PARAMETER_LIMITS["code"])

    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"


# -- redirect URIs per client ------------------------------------------------------------------


def test_at_most_ten_redirect_uris_are_registered(clean_app, make):
    uris = [f"https://servicetitan.example/callback/{n}" for n in range(REDIRECT_URIS_MAX + 1)]

    with clean_app.app_context():
        create_client(ClientSettings(name="Ten", redirect_uris=uris[:REDIRECT_URIS_MAX]))
        with pytest.raises(ClientSettingsError) as refused:
            create_client(ClientSettings(name="Eleven", redirect_uris=uris))

    assert refused.value.problems == [Problem("redirect_uris", f"at most {REDIRECT_URIS_MAX} redirect URIs")]
    assert make.count(Client) == 1


def test_the_command_line_refuses_an_eleventh_redirect_uri(runner, make):
    options = [a for n in range(REDIRECT_URIS_MAX + 1) for a in ("--redirect-uri", f"https://st.example/cb/{n}")]

    result = runner.invoke(args=["clients", "create", "--name", "ServiceTitan", *options, "--json"])

    assert result.exit_code != 0
    assert f"at most {REDIRECT_URIS_MAX} redirect URIs" in result.output
    assert make.count(Client) == 0


@pytest.mark.parametrize(
    "uri, problem",
    [
        ("https://servicetitan.example/" + "a" * 2048, "at most 2048 characters"),
    ],
)
def test_an_over_long_redirect_uri_is_refused_at_registration(clean_app, make, uri, problem):
    with clean_app.app_context(), pytest.raises(ClientSettingsError) as refused:
        create_client(ClientSettings(name="Long", redirect_uris=[uri]))

    assert problem in by_where(refused.value.problems)["redirect_uris"]
    assert make.count(Client) == 0
