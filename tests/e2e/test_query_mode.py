"""response_mode=query in a real browser: the sign-in and consent forms' redirect reaches the
client's redirect URI.

Chromium applies ``form-action`` to the redirects that follow a form's POST. In query mode
the sign-in form (when consent is remembered) or the consent form is answered by a redirect
to the client, so a policy of ``form-action 'self'`` on those pages would leave the tenant
on our page.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from flask import Flask, request
from sqlalchemy import select

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Client, Consent, TenantUser
from tests.conftest import LiveServer, _empty_tables
from tests.factories import PASSWORD, Factories


@pytest.fixture
def callback():
    """A client's callback that takes the code from the query."""
    app = Flask("callback")
    app.config["received"] = []

    @app.get("/callback")
    def receive():
        app.config["received"].append(request.args.to_dict())
        return "paired"

    with LiveServer(app) as server:
        server.received = app.config["received"]
        yield server


@pytest.fixture
def make(postgres_app, provider) -> Factories:
    _empty_tables(postgres_app)
    factories = Factories(postgres_app)
    factories.directory()
    return factories


def _authorize(page, provider, client) -> list[str]:
    """Open the authorization URL in query mode and sign in; answers the browser's console."""
    console = []
    page.on("console", lambda message: console.append(message.text))
    query = {
        "client_id": client.client_id,
        "response_type": "code",
        "response_mode": "query",
        "scope": "openid",
        "state": "rp-state-7",
        "redirect_uri": client.redirect_uri,
    }
    page.goto(provider.url + "/authorize?" + urlencode(query))
    page.get_by_label("Email").fill("owner@mtech.example")
    page.get_by_label("Password").fill(PASSWORD)
    return console


def _remember_consent(app, client_id: str) -> None:
    with app.app_context():
        user = db.session.scalar(select(TenantUser).where(TenantUser.email == "owner@mtech.example"))
        client = db.session.scalar(select(Client).where(Client.client_id == client_id))
        now = clock.now()
        db.session.add(
            Consent(
                user_id=user.id,
                client_pk=client.id,
                scope="openid",
                account_id="acct-hvac",
                granted_at=now,
                expires_at=now + timedelta(days=30),
            )
        )
        db.session.commit()


def _assert_paired(page, callback, console) -> None:
    page.wait_for_url(callback.url + "/callback?*", timeout=10_000)
    [received] = callback.received
    assert set(received) >= {"code", "state"} and received["state"] == "rp-state-7"
    assert [text for text in console if "Content Security Policy" in text] == []


def test_query_mode_pairs_through_the_consent_page_in_a_browser(make, provider, callback, page):
    client = make.client(redirect_uris=[callback.url + "/callback"], scope="openid")
    console = _authorize(page, provider, client)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Allow").click()
    _assert_paired(page, callback, console)


def test_query_mode_pairs_straight_from_the_sign_in_page_with_remembered_consent(
    postgres_app, make, provider, callback, page
):
    client = make.client(redirect_uris=[callback.url + "/callback"], scope="openid")
    _remember_consent(postgres_app, client.client_id)
    console = _authorize(page, provider, client)
    page.get_by_role("button", name="Sign in").click()
    _assert_paired(page, callback, console)
