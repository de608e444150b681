"""Every destructive action asks first, in the page's words, with the keyboard's focus on
the safe choice; cancelling changes nothing, and confirming does what was asked."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent
from tests.console import seed_world

# (path template, form, words the question must use, the acting button)
DESTRUCTIVE = {
    "retire a signing key": ("/admin/keys/{kid}/retire", {}, "Retire signing key", "Retire key"),
    "retire a webhook key": (
        "/admin/clients/{client_id}/servicetitan/webhook-key/{older_webhook_key_id}/retire",
        {},
        "Retire this webhook signing key?",
        "Retire webhook key",
    ),
    "disable a client": ("/admin/clients/{client_id}/disable", {}, "Disable client ServiceTitan?", "Disable client"),
    "decline a pairing": (
        "/admin/pairings/{pairing_id}/decision",
        {"decision": "decline"},
        "Decline the pairing of MTech HVAC?",
        "Decline pairing",
    ),
    "unpair a pairing": (
        "/admin/pairings/{custom_pairing_id}/unpair",
        {},
        "Unpair MTech Plumbing (sandbox)?",
        "Unpair",
    ),
    "discard a message": ("/admin/outbox/{message_id}/discard", {}, "Discard message", "Discard message"),
    "discard a booking": ("/admin/bookings/{booking_id}/discard", {}, "Discard message", "Discard message"),
    "resend a booking": ("/admin/bookings/{booking_id}/resend", {}, "new idempotency token", "Resend"),
    "disable an admin": (
        "/admin/admins/{admin_id}/disable",
        {},
        "Disable admin other@partner.example?",
        "Disable admin",
    ),
    "rotate an API client's secret": (
        "/admin/api-clients/{api_client_id}/rotate",
        {"grace_seconds": "3600"},
        "Rotate the secret of API client Booking platform?",
        "Rotate secret",
    ),
    "revoke an API client": (
        "/admin/api-clients/{api_client_id}/revoke",
        {},
        "Revoke API client Booking platform?",
        "Revoke client",
    ),
    "remove an admin": ("/admin/admins/{admin_id}/remove", {}, "Remove admin other@partner.example?", "Remove admin"),
}


def audit_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent))


@pytest.mark.parametrize("action", sorted(DESTRUCTIVE))
def test_a_destructive_action_asks_first_and_cancelling_changes_nothing(console, fresh_signing_keys, action):
    world = seed_world(console.app, retirable_key=True)
    template, form, words, button = DESTRUCTIVE[action]
    path = template.format(**world)
    before = audit_count(console.app)

    asked = console.post(path, form)

    assert asked.status_code == 200
    assert words in asked.text
    [cancel] = re.findall(r'<a class="button secondary" href="([^"]+)" autofocus>Cancel</a>', asked.text)
    assert asked.text.index(">Cancel</a>") < asked.text.index(f">{button}</button>")  # the safe choice first
    assert '<input type="hidden" name="confirmed" value="yes">' in asked.text
    for name, value in form.items():
        assert f'<input type="hidden" name="{name}" value="{value}">' in asked.text
    assert audit_count(console.app) == before

    assert console.get(cancel).status_code == 200
    assert audit_count(console.app) == before

    done = console.post(path, {**form, "confirmed": "yes"})
    assert done.status_code in (200, 302)  # a rotation answers with the new secret
    assert audit_count(console.app) > before


def test_deleting_a_client_starts_on_cancel(console):
    world = seed_world(console.app)

    page = console.get(f"/admin/clients/{world['client_id']}/delete").text

    assert f'href="/admin/clients/{world["client_id"]}" autofocus>Cancel</a>' in page
