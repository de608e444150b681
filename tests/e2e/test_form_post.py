"""The form_post page's Content Security Policy in a real browser: its form reaches the
client, and the client may send the browser on to another of its hosts.

Chromium applies ``form-action`` to the redirects that follow a form's POST, so a policy
naming only the redirect URI's origin would strand the tenant whenever ServiceTitan's
callback redirects to its application on another host. The plain arrival of the POST is
shown by ``test_e2e_pairing.py::test_servicetitan_pairs_an_account_through_the_browser``.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from flask import Flask, redirect, request

from tests.conftest import LiveServer, _empty_tables
from tests.factories import PASSWORD, Factories

ONWARD = "https://127.0.0.1:9/app/paired"  # another origin, https; nothing listens there


@pytest.fixture
def callback():
    """ServiceTitan's callback as many clients write it: take the POST, redirect onward."""
    app = Flask("callback")
    app.config["received"] = []

    @app.post("/callback")
    def receive():
        app.config["received"].append(request.form.to_dict())
        return redirect(ONWARD, 303)

    with LiveServer(app) as server:
        server.received = app.config["received"]
        yield server


def test_the_form_post_reaches_the_client_and_may_be_redirected_onward(postgres_app, provider, callback, page):
    _empty_tables(postgres_app)
    make = Factories(postgres_app)
    make.directory()
    client = make.client(redirect_uris=[callback.url + "/callback"])
    console, requested = [], []
    page.on("console", lambda message: console.append(message.text))
    page.on("request", lambda r: requested.append(r.url))

    page.goto(
        provider.url
        + "/authorize?"
        + urlencode(
            {
                "client_id": client.client_id,
                "response_type": "code",
                "response_mode": "form_post",
                "scope": "openid",
                "state": "st-state-9",
                "redirect_uri": client.redirect_uri,
            }
        )
    )
    page.get_by_label("Email").fill("owner@mtech.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    with page.expect_request(ONWARD, timeout=10_000):
        page.get_by_role("button", name="Allow").click()

    [posted] = callback.received
    assert set(posted) == {"code", "state", "iss"} and posted["state"] == "st-state-9"
    assert ONWARD in requested
    assert [text for text in console if "Content Security Policy" in text] == []
