"""Where ServiceTitan is: the sandbox's documented defaults, production with none, the
secret stored encrypted and never shown, and a token check against the sandbox."""

from __future__ import annotations

import json

import pytest

from oidc_provider.core.extensions import db
from oidc_provider.core.models import ServiceTitanEnvironment
from oidc_provider.servicetitan import environments
from oidc_provider.servicetitan.errors import NotConfigured

SECRET = "7a2abb98b5117e80500af07788109d1d2031784dbb6cc1833262f0ac2132"


def test_defaults_and_what_is_missing(clean_app):
    with clean_app.app_context():
        assert environments.default_environment() == "sandbox"  # development mode
        assert environments.describe("sandbox") == {
            "environment": "sandbox",
            "identity_url": "https://leads-identity-demo.st.dev",
            "api_url": "https://leads-booking-api-demo.st.dev",
            "client_id": None,
            "client_secret_set": False,
        }
        with pytest.raises(NotConfigured, match="the sandbox environment lacks client_id, client_secret"):
            environments.resolve("sandbox")
        with pytest.raises(NotConfigured, match="the production environment lacks identity_url, api_url, client_id"):
            environments.resolve("production")


def test_configure_show_and_check(runner, clean_app, st_sandbox, frozen_clock):
    result = runner.invoke(
        args=[
            "servicetitan",
            "configure",
            "sandbox",
            "--identity-url",
            st_sandbox.url + "/connect/token",
            "--api-url",
            st_sandbox.url + "/",
            "--client-id",
            "partner_client",
            "--client-secret-stdin",
            "--json",
        ],
        input=SECRET + "\n",
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "environment": "sandbox",
        "identity_url": st_sandbox.url,
        "api_url": st_sandbox.url,
        "client_id": "partner_client",
        "client_secret_set": True,
    }
    with clean_app.app_context():
        row = db.session.get(ServiceTitanEnvironment, "sandbox")
        assert SECRET not in row.client_secret_encrypted
        assert environments.resolve("sandbox").client_secret == SECRET
    shown = runner.invoke(args=["servicetitan", "show"])
    assert SECRET not in shown.output
    assert "default: sandbox" in shown.output
    assert "  api_url       (not set)" in shown.output  # production

    checked = runner.invoke(args=["servicetitan", "check", "sandbox", "--json"])
    assert checked.exit_code == 0, checked.output
    assert st_sandbox.state.tokens_issued() == 1


def test_bad_input_is_refused_with_a_reason(runner, clean_app, st_sandbox):
    wrong = runner.invoke(args=["servicetitan", "configure", "production", "--api-url", "leads.example"])
    assert wrong.exit_code == 1 and "'leads.example' is not an http(s) URL" in wrong.output
    empty = runner.invoke(args=["servicetitan", "configure", "sandbox", "--client-secret-stdin"], input="\n")
    assert empty.exit_code == 1 and "no client secret on stdin" in empty.output
    unconfigured = runner.invoke(args=["servicetitan", "check", "production"])
    assert unconfigured.exit_code == 1 and "NotConfigured" in unconfigured.output

    runner.invoke(
        args=[
            "servicetitan",
            "configure",
            "sandbox",
            "--identity-url",
            st_sandbox.url,
            "--api-url",
            st_sandbox.url,
            "--client-id",
            "partner_client",
            "--client-secret-stdin",
        ],
        input="wrong\n",
    )
    refused = runner.invoke(args=["servicetitan", "check", "sandbox"])
    assert refused.exit_code == 1 and "HTTP 400 (invalid_client)" in refused.output
