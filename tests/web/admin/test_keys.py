"""Signing keys in the console: state, activation and age; rotation with and without
immediate activation; retirement when the key ring allows it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent, SigningKey
from oidc_provider.oidc.keys import create_key


@pytest.fixture
def keys_app(fresh_signing_keys):
    return fresh_signing_keys


def rows(app) -> list[SigningKey]:
    with app.app_context():
        found = db.session.scalars(select(SigningKey).order_by(SigningKey.created_at)).all()
        for row in found:
            db.session.expunge(row)
        return found


def test_each_key_with_its_state_activation_and_age(keys_app, console):
    page = console.get("/admin/keys").text

    for row in rows(keys_app):
        assert f"<code>{row.kid}</code>" in page
    assert page.count('class="badge active">active</span>') == 2
    assert "is the active RS256 key; rotate first" in page
    assert page.count(">Retire</button>") == 0
    assert page.count('<td data-label="Age">') == 2


def test_rotation_publishes_keys_that_sign_later(keys_app, console):
    response = console.post("/admin/keys/rotate")

    assert response.status_code == 302
    page = console.get("/admin/keys").text
    assert page.count('class="badge published">published</span>') == 2
    assert page.count('class="badge active">active</span>') == 2
    with keys_app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "signing_keys_rotated"))
        assert (event.actor, event.detail["activate_now"], len(event.detail["kids"])) == (console.email, False, 2)


def test_rotation_with_immediate_activation(keys_app, console):
    console.post("/admin/keys/rotate", {"activate_now": "on"})

    page = console.get("/admin/keys").text
    assert page.count('class="badge active">active</span>') == 2
    assert page.count('class="badge retiring">retiring</span>') == 2
    assert "may still verify id_tokens until" in page


def test_an_old_key_can_be_retired(keys_app, console):
    with keys_app.app_context():
        old = create_key("ES256", clock.now() - timedelta(days=30))
        db.session.commit()
        kid = old.kid
    page = console.get("/admin/keys").text
    assert f'aria-label="Retire key {kid}">Retire</button>' in page

    response = console.post(f"/admin/keys/{kid}/retire", {"confirmed": "yes"})

    assert response.status_code == 302
    assert next(r for r in rows(keys_app) if r.kid == kid).retired_at is not None
    assert 'class="badge retired">retired</span>' in console.get("/admin/keys").text


def test_an_active_key_is_not_retired(keys_app, console):
    active = next(r for r in rows(keys_app) if r.alg == "RS256")

    response = console.post(f"/admin/keys/{active.kid}/retire", {"confirmed": "yes"})

    assert response.status_code == 409
    assert f"key {active.kid} is the active RS256 key; rotate first" in response.text
    assert next(r for r in rows(keys_app) if r.kid == active.kid).retired_at is None
    assert "no signing key with kid" in console.post("/admin/keys/nope/retire", {"confirmed": "yes"}).text
