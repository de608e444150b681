"""Partner API clients in the console: the list, creation with the secret shown once,
rotation and revocation behind their confirmations, each audited with the admin's name."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import func, select

from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import token_digest
from oidc_provider.core.models import ApiClient, AuditEvent
from tests.flows import basic

SECRET = re.compile(r'<code id="value-client-secret" class="value secret">([^<]+)</code>')
CLIENT_ID = re.compile(r'<code id="value-client-id" class="value">([^<]+)</code>')


def token_status(web, client_id: str, secret: str) -> int:
    response = web.post(
        "/token", data={"grant_type": "client_credentials"}, headers={"Authorization": basic(client_id, secret)}
    )
    return response.status_code


def create(console, name: str = "Booking platform", scopes=("bookings:write", "leads:read")):
    response = console.post("/admin/api-clients", {"name": name, "scope": list(scopes)})
    assert response.status_code == 201, response.text
    return CLIENT_ID.search(response.text).group(1), SECRET.search(response.text).group(1), response


def stored(app, client_id: str) -> ApiClient:
    with app.app_context():
        client = db.session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
        db.session.expunge(client)
        return client


def every_stored_value(app) -> str:
    """Every row of every table, as text."""
    with app.app_context():
        return "\n".join(
            repr(tuple(row)) for table in db.metadata.sorted_tables for row in db.session.execute(table.select())
        )


def events(app, kind: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)))


def audit_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_the_page_is_in_the_navigation_and_offers_every_allowed_scope(console):
    page = console.get("/admin/api-clients").text

    assert '<a href="/admin/api-clients" aria-current="page">API clients</a>' in page
    assert "No API clients yet." in page
    for scope in ("bookings:write", "bookings:read", "bookings:personal", "pairings:read", "events:read"):
        assert f'name="scope" type="checkbox" value="{scope}"' in page
    assert 'href="/admin/api-clients"' in console.get("/admin/").text


def test_creating_shows_the_secret_once_and_stores_only_its_hash(console, web):
    client_id, secret, response = create(console)

    assert "API client created." in response.text and "will not be shown again" in response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert len(secret) >= 43
    client = stored(console.app, client_id)
    assert (client.name, client.scope) == ("Booking platform", "bookings:write leads:read")
    assert client.secret_hash == token_digest(secret) and secret not in client.secret_hash
    [event] = events(console.app, "api_client_created")
    assert event.actor == console.email
    assert event.detail.items() >= {"client_id": client_id, "name": "Booking platform"}.items()
    assert secret not in str(event.detail)

    # No later page shows it.
    for path in ("/admin/api-clients", f"/admin/api-clients/{client_id}", "/admin/audit"):
        page = console.get(path)
        assert page.status_code == 200 and secret not in page.text, path
        assert client_id in page.text
    assert token_status(web, client_id, secret) == 200


def test_the_list_shows_scopes_created_last_token_and_state(console, web):
    client_id, secret, _ = create(console)
    before = console.get("/admin/api-clients").text
    assert '<td data-label="Last token">never</td>' in before
    assert '<span class="badge enabled">Active</span>' in before

    assert token_status(web, client_id, secret) == 200
    page = console.get("/admin/api-clients").text

    assert '<td data-label="Scopes"><code>bookings:write leads:read</code></td>' in page
    assert '<td data-label="Last token">never</td>' not in page
    assert re.search(r'<td data-label="Last token">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</td>', page)


@pytest.mark.parametrize(
    ("form", "where", "message"),
    [
        ({"name": "", "scope": ["leads:read"]}, "name", "give a name of 1 to 128 characters"),
        ({"name": "x" * 129, "scope": ["leads:read"]}, "name", "give a name of 1 to 128 characters"),
        ({"name": "Platform"}, "scope", "give at least one scope"),
        ({"name": "Platform", "scope": ["admin:all"]}, "scope", "unknown scope &#39;admin:all&#39;"),
    ],
)
def test_a_refused_form_says_why_and_creates_nothing(console, form, where, message):
    response = console.post("/admin/api-clients", form)

    assert response.status_code == 422
    assert message in response.text
    assert f'id="api-client-{where}-error"' in response.text
    with console.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiClient)) == 0
    assert events(console.app, "api_client_created") == []


def test_a_refused_form_keeps_what_was_typed_and_ticked(console):
    response = console.post("/admin/api-clients", {"name": "", "scope": ["events:read"]})

    assert 'value="events:read" checked' in response.text
    assert 'value="leads:read" checked' not in response.text


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/admin/api-clients", {"name": "Platform", "scope": "leads:read"}),
        ("/admin/api-clients/{client_id}/rotate", {"grace_seconds": "0", "confirmed": "yes"}),
        ("/admin/api-clients/{client_id}/revoke", {"confirmed": "yes"}),
    ],
)
def test_every_form_needs_its_csrf_token(console, make, path, form):
    client_id, secret = make.api_client()
    before = audit_count(console.app)

    for refused in ({}, {"csrf_token": "forged"}):
        response = console.post(path.format(client_id=client_id), {**form, **refused}, csrf=False)
        assert response.status_code == 400
        assert "This form has expired or did not come from our page." in response.text
    assert audit_count(console.app) == before
    assert stored(console.app, client_id).secret_hash == token_digest(secret)
    assert stored(console.app, client_id).revoked_at is None


def test_rotation_asks_first_in_words_and_cancelling_changes_nothing(console, make, web):
    client_id, secret = make.api_client()
    before = audit_count(console.app)

    asked = console.post(f"/admin/api-clients/{client_id}/rotate", {"grace_seconds": "3600"})

    assert asked.status_code == 200
    assert "Rotate the secret of API client Booking platform?" in asked.text
    assert "A new secret is made and shown once" in asked.text
    assert "The old secret keeps working for 1 h, until" in asked.text
    [cancel] = re.findall(r'<a class="button secondary" href="([^"]+)" autofocus>Cancel</a>', asked.text)
    assert cancel == f"/admin/api-clients/{client_id}"
    assert asked.text.index(">Cancel</a>") < asked.text.index(">Rotate secret</button>")
    assert '<input type="hidden" name="grace_seconds" value="3600">' in asked.text
    assert '<input type="hidden" name="confirmed" value="yes">' in asked.text
    assert SECRET.search(asked.text) is None
    assert console.get(cancel).status_code == 200
    assert audit_count(console.app) == before
    assert stored(console.app, client_id).secret_hash == token_digest(secret)


def test_rotation_without_grace_says_the_old_secret_stops_at_once(console, make):
    client_id, _ = make.api_client()

    asked = console.post(f"/admin/api-clients/{client_id}/rotate", {"grace_seconds": "0"})

    assert "The old secret stops working at once" in asked.text


def test_rotation_with_a_grace_period_keeps_the_old_secret_until_it_ends(console, make, web, frozen_clock):
    client_id, old = make.api_client()

    done = console.post(f"/admin/api-clients/{client_id}/rotate", {"grace_seconds": "600", "confirmed": "yes"})

    assert done.status_code == 200
    assert "Secret rotated." in done.text and "will not be shown again" in done.text
    new = SECRET.search(done.text).group(1)
    assert new != old
    client = stored(console.app, client_id)
    assert (client.secret_hash, client.previous_secret_hash) == (token_digest(new), token_digest(old))
    assert token_status(web, client_id, old) == 200
    assert token_status(web, client_id, new) == 200
    assert "old secret valid until" in console.get(f"/admin/api-clients/{client_id}").text
    assert new not in console.get(f"/admin/api-clients/{client_id}").text
    [event] = events(console.app, "api_client_secret_rotated")
    assert event.actor == console.email
    assert event.detail.items() >= {"client_id": client_id, "grace_seconds": 600}.items()

    frozen_clock.advance(601)
    assert token_status(web, client_id, old) == 401
    assert token_status(web, client_id, new) == 200


@pytest.mark.parametrize(
    ("grace", "message"),
    [("-1", "must be 0 to 2592000 seconds"), ("2592001", "must be 0 to 2592000 seconds"), ("soon", "whole number")],
)
def test_a_refused_grace_period_is_shown_before_asking(console, make, grace, message):
    client_id, secret = make.api_client()

    response = console.post(f"/admin/api-clients/{client_id}/rotate", {"grace_seconds": grace, "confirmed": "yes"})

    assert response.status_code == 422
    assert message in response.text and 'id="rotate-grace_seconds-error"' in response.text
    assert stored(console.app, client_id).secret_hash == token_digest(secret)


def test_revoking_asks_first_and_cancelling_changes_nothing(console, make, web):
    client_id, secret = make.api_client()
    before = audit_count(console.app)

    asked = console.post(f"/admin/api-clients/{client_id}/revoke")

    assert asked.status_code == 200
    assert "Revoke API client Booking platform?" in asked.text
    assert "every token it holds is refused at once" in asked.text
    assert f'href="/admin/api-clients/{client_id}" autofocus>Cancel</a>' in asked.text
    assert asked.text.index(">Cancel</a>") < asked.text.index(">Revoke client</button>")
    assert console.get(f"/admin/api-clients/{client_id}").status_code == 200
    assert audit_count(console.app) == before
    assert stored(console.app, client_id).revoked_at is None
    assert token_status(web, client_id, secret) == 200


def test_revoking_refuses_the_secret_and_every_token(console, make, web):
    client_id, secret = make.api_client()
    token = web.post(
        "/token", data={"grant_type": "client_credentials"}, headers={"Authorization": basic(client_id, secret)}
    ).json["access_token"]

    done = console.post(f"/admin/api-clients/{client_id}/revoke", {"confirmed": "yes"})

    assert done.status_code == 302 and done.headers["Location"] == f"/admin/api-clients/{client_id}"
    page = console.get(f"/admin/api-clients/{client_id}").text
    assert '<span class="badge disabled">Revoked</span>' in page
    assert "Rotate secret" not in page and "Revoke client" not in page
    assert token_status(web, client_id, secret) == 401
    assert web.get("/api/v1/leads/report", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    [event] = events(console.app, "api_client_revoked")
    assert event.actor == console.email
    assert event.detail.items() >= {"client_id": client_id, "name": "Booking platform"}.items()


def test_revoking_again_asks_nothing_and_changes_nothing(console, make):
    client_id, _ = make.api_client()
    console.post(f"/admin/api-clients/{client_id}/revoke", {"confirmed": "yes"})
    revoked_at = stored(console.app, client_id).revoked_at

    again = console.post(f"/admin/api-clients/{client_id}/revoke")

    assert again.status_code == 302
    assert stored(console.app, client_id).revoked_at == revoked_at
    assert len(events(console.app, "api_client_revoked")) == 1


def test_a_revoked_client_is_not_rotated(console, make):
    client_id, _ = make.api_client()
    console.post(f"/admin/api-clients/{client_id}/revoke", {"confirmed": "yes"})

    response = console.post(f"/admin/api-clients/{client_id}/rotate", {"grace_seconds": "0", "confirmed": "yes"})

    assert response.status_code == 422
    assert "is revoked; create a new one" in response.text
    assert events(console.app, "api_client_secret_rotated") == []


def test_an_unknown_client_is_a_404(console):
    assert console.get("/admin/api-clients/nope").status_code == 404
    assert console.post("/admin/api-clients/nope/revoke", {"confirmed": "yes"}).status_code == 404
    assert console.post("/admin/api-clients/nope/rotate", {"confirmed": "yes"}).status_code == 404


def test_no_secret_is_stored_in_clear_or_logged(console, web, caplog):
    caplog.set_level(logging.DEBUG)
    client_id, first, _ = create(console)
    rotated = console.post(f"/admin/api-clients/{client_id}/rotate", {"grace_seconds": "60", "confirmed": "yes"})
    second = SECRET.search(rotated.text).group(1)
    assert token_status(web, client_id, second) == 200
    stored_values = every_stored_value(console.app)
    assert client_id in stored_values
    assert first not in stored_values and second not in stored_values

    logged = "\n".join(f"{record.getMessage()} {record.args!r} {vars(record)!r}" for record in caplog.records)
    assert caplog.records  # the requests were logged
    assert first not in logged and second not in logged
