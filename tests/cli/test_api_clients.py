"""flask api-clients: create, list, rotate-secret, revoke."""

from __future__ import annotations

import json

from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import token_digest
from oidc_provider.core.models import ApiClient, AuditEvent
from tests.flows import basic


def create(runner, *args):
    return runner.invoke(args=["api-clients", "create", *args])


def test_create_prints_the_secret_once_and_stores_its_hash(runner, clean_app):
    result = create(runner, "--name", "Booking platform", "--scope", "bookings:write bookings:read", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["name"] == "Booking platform"
    assert created["scope"] == "bookings:write bookings:read"
    with clean_app.app_context():
        stored = db.session.scalar(select(ApiClient))
        assert stored.secret_hash == token_digest(created["client_secret"])
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "api_client_created"))
        assert event.detail["name"] == "Booking platform"
    listed = runner.invoke(args=["api-clients", "list", "--json"])
    assert created["client_secret"] not in listed.output
    assert [c["client_id"] for c in json.loads(listed.output)] == [created["client_id"]]


def test_create_refuses_unknown_scopes_and_empty_names(runner, make):
    result = create(runner, "--name", " ", "--scope", "bookings:write openid")
    assert result.exit_code != 0
    assert "name: give a name" in result.output
    assert "scope: unknown scope 'openid'" in result.output
    assert make.count(ApiClient) == 0


def test_rotate_secret_with_a_grace_period(runner, web):
    created = json.loads(create(runner, "--name", "P", "--scope", "leads:read", "--json").output)
    result = runner.invoke(
        args=["api-clients", "rotate-secret", created["client_id"], "--grace-period", "300", "--json"]
    )
    assert result.exit_code == 0, result.output
    rotated = json.loads(result.output)
    for secret in (created["client_secret"], rotated["client_secret"]):
        response = web.post(
            "/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic(created["client_id"], secret)},
        )
        assert response.status_code == 200


def test_revoke(runner, web):
    created = json.loads(create(runner, "--name", "P", "--scope", "leads:read", "--json").output)
    result = runner.invoke(args=["api-clients", "revoke", created["client_id"], "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["revoked_at"] is not None
    response = web.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic(created["client_id"], created["client_secret"])},
    )
    assert response.status_code == 401
    assert "revoked" in runner.invoke(args=["api-clients", "list"]).output


def test_unknown_client_id(runner, clean_app):
    result = runner.invoke(args=["api-clients", "revoke", "nope"])
    assert result.exit_code != 0
    assert "no API client with client_id 'nope'" in result.output
