"""Security events reach the one audit log the console shows: code reuse and refused client
authentication here; failed and throttled sign-ins in test_throttling.py. None carries a
secret."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent
from tests.flows import basic


@pytest.fixture
def servicetitan(make):
    make.directory()
    return make.client()


def details(app, kind: str) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id))
        return [row.detail for row in rows]


def test_a_reused_code_is_a_security_event(clean_app, servicetitan, flows):
    code = flows.code(servicetitan)
    flows.exchange(servicetitan, code)

    flows.exchange(servicetitan, code)

    [detail] = details(clean_app, "authorization_code_reuse")
    assert detail["tokens_revoked"] == 1
    assert code not in json.dumps(detail)


@pytest.mark.parametrize("secret", ["wrong-secret-4411", None])
def test_a_refused_client_is_a_security_event_without_the_secret(clean_app, servicetitan, flows, web, secret):
    code = flows.code(servicetitan)
    headers = {"Authorization": basic(servicetitan.client_id, secret)} if secret else {}

    response = web.post(
        "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": servicetitan.redirect_uri},
        headers=headers,
    )

    assert response.status_code == 401
    [detail] = details(clean_app, "client_authentication_failed")
    assert detail["reason"] == response.json["error_description"]
    assert detail["remote_addr"] == "127.0.0.1"
    assert "wrong-secret-4411" not in json.dumps(detail)
