"""GET and POST /userinfo with a bearer access token (OpenID Connect Core 5.3)."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import TenantUser
from tests.flows import base64_bearer


@pytest.fixture
def directory(make):
    return make.directory()


def owner_subject(app) -> str:
    with app.app_context():
        return db.session.scalar(select(TenantUser.subject).where(TenantUser.email == "owner@mtech.example"))


def call(web, method: str, authorization: str | None):
    headers = {"Authorization": authorization} if authorization is not None else {}
    return web.open("/userinfo", method=method, headers=headers)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_answers_the_claims_of_the_granted_scope(flows, web, make, clean_app, directory, method):
    access_token = flows.tokens(make.client(scope="openid profile email"))["access_token"]

    response = call(web, method, f"Bearer {access_token}")

    assert response.status_code == 200, response.json
    assert response.json == {
        "sub": owner_subject(clean_app),
        "name": "Owner",
        "email": "owner@mtech.example",
        "email_verified": True,
    }
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("scope", "claims"),
    [("openid", {"sub"}), ("openid profile", {"sub", "name"}), ("openid email", {"sub", "email", "email_verified"})],
)
def test_userinfo_leaves_out_what_the_scope_does_not_grant(flows, web, make, directory, scope, claims):
    access_token = flows.tokens(make.client(scope=scope))["access_token"]

    response = call(web, "GET", f"Bearer {access_token}")

    assert set(response.json) == claims


def test_userinfo_sub_is_the_id_token_sub(flows, web, make, directory):
    tokens = flows.tokens(make.client())
    payload = tokens["id_token"].split(".")[1]  # the signature is test_id_token's business
    id_token_sub = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]

    assert call(web, "POST", f"Bearer {tokens['access_token']}").json["sub"] == id_token_sub


def test_userinfo_accepts_the_base64_bearer_that_servicetitan_sends(flows, web, make, clean_app, directory):
    access_token = flows.tokens(make.client())["access_token"]

    response = call(web, "GET", base64_bearer(access_token))

    assert response.status_code == 200
    assert response.json["sub"] == owner_subject(clean_app)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Basic b3duZXI6eA==", "Bearer unknown-token", "Bearer %%%", "Bearer: {token}"],
    ids=["missing", "scheme-only", "basic", "unknown", "undecodable", "colon-typo"],
)
def test_userinfo_without_a_valid_token_is_a_401_bearer_challenge(flows, web, make, method, authorization):
    if authorization is not None and "{token}" in authorization:
        make.directory()
        authorization = authorization.replace("{token}", flows.tokens(make.client())["access_token"])

    response = call(web, method, authorization)

    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_userinfo_with_an_expired_token_is_refused(flows, web, make, frozen_clock, directory):
    access_token = flows.tokens(make.client())["access_token"]
    frozen_clock.advance(3600)

    response = call(web, "GET", f"Bearer {access_token}")

    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
