"""The client credentials grant for partner API clients at the product's own /token."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import token_digest
from oidc_provider.core.models import AccessToken, ApiAccessToken, AuditEvent
from tests.factories import SERVICETITAN_CALLBACK
from tests.flows import basic

SCOPE = "bookings:write bookings:read leads:read"


@pytest.fixture
def api_client(make):
    return make.api_client(SCOPE)


def token_request(web, client_id, secret, how="basic", **form):
    form = {"grant_type": "client_credentials", **form}
    if how == "basic":
        return web.post("/token", data=form, headers={"Authorization": basic(client_id, secret)})
    return web.post("/token", data={**form, "client_id": client_id, "client_secret": secret})


@pytest.mark.parametrize("how", ["basic", "body"])
def test_a_token_for_every_scope_of_the_client(web, clean_app, api_client, how):
    client_id, secret = api_client
    response = token_request(web, client_id, secret, how)
    assert response.status_code == 200, response.json
    token = response.json
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == clean_app.config["ACCESS_TOKEN_LIFETIME"]
    assert token["scope"] == SCOPE
    assert "refresh_token" not in token and "id_token" not in token
    assert response.headers["Cache-Control"] == "no-store"
    with clean_app.app_context():
        stored = db.session.scalar(select(ApiAccessToken))
        assert stored.token_hash == token_digest(token["access_token"])
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "api_token_issued"))
        assert event.actor == "api-client:Booking platform"


def test_a_subset_of_the_scopes(web, api_client):
    response = token_request(web, *api_client, scope="bookings:read")
    assert response.status_code == 200
    assert response.json["scope"] == "bookings:read"


@pytest.mark.parametrize("scope", ["bookings:personal", "bookings:read pairings:write", "openid"])
def test_a_scope_beyond_the_client_is_invalid_scope(web, make, api_client, scope):
    response = token_request(web, *api_client, scope=scope)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_scope"
    assert make.count(ApiAccessToken) == 0


def test_a_wrong_secret_is_invalid_client(web, make, api_client):
    response = token_request(web, api_client[0], "not-the-secret")
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    assert make.count(ApiAccessToken) == 0


def test_basic_and_body_must_agree(web, make, api_client):
    client_id, secret = api_client
    response = web.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret + "x"},
        headers={"Authorization": basic(client_id, secret)},
    )
    assert response.status_code == 401
    assert make.count(ApiAccessToken) == 0


def test_a_relying_party_cannot_use_client_credentials(web, make):
    make.directory()
    servicetitan = make.client()
    response = token_request(web, servicetitan.client_id, servicetitan.client_secret)
    assert response.status_code == 400
    assert response.json["error"] == "unauthorized_client"
    assert make.count(ApiAccessToken) == 0 and make.count(AccessToken) == 0


def test_an_api_client_cannot_use_the_authorization_code_grant(web, make, api_client):
    client_id, secret = api_client
    response = web.post(
        "/token",
        data={"grant_type": "authorization_code", "code": "anything", "redirect_uri": SERVICETITAN_CALLBACK},
        headers={"Authorization": basic(client_id, secret)},
    )
    assert response.status_code == 400
    assert response.json["error"] == "unauthorized_client"


def test_an_api_client_is_unknown_at_the_authorization_endpoint(web, api_client):
    response = web.get(
        "/authorize",
        query_string={
            "client_id": api_client[0],
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": SERVICETITAN_CALLBACK,
        },
    )
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_a_revoked_client_gets_no_token(web, clean_app, make, api_client):
    from oidc_provider.oidc.api_clients import find_api_client, revoke_api_client

    with clean_app.app_context():
        revoke_api_client(find_api_client(api_client[0]))
    assert token_request(web, *api_client).status_code == 401


def test_after_a_rotation_the_old_secret_works_for_its_grace_period(web, clean_app, api_client, frozen_clock):
    from oidc_provider.oidc.api_clients import find_api_client, rotate_api_client_secret

    client_id, old = api_client
    with clean_app.app_context():
        new = rotate_api_client_secret(find_api_client(client_id), grace_seconds=600)
    assert token_request(web, client_id, new).status_code == 200
    assert token_request(web, client_id, old).status_code == 200
    frozen_clock.advance(601)
    assert token_request(web, client_id, old).status_code == 401
    assert token_request(web, client_id, new).status_code == 200
