"""The audit log in the console: every kind of event, filtered by kind, actor, details and
dates; newest first, a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent


@pytest.fixture
def events(clean_app):
    with clean_app.app_context():
        for at, kind, actor, detail in (
            (datetime(2026, 3, 1, 8, 0, tzinfo=UTC), "client_created", "cli", {"client_id": "abc"}),
            (datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "sign_in_failed", "", {"realm": "tenant", "email": "x@y.example"}),
            (
                datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
                "pairing_created",
                "owner@mtech.example",
                {"account_id": "acct-hvac", "status": "COMPLETED"},
            ),
            (datetime(2026, 3, 4, 23, 59, tzinfo=UTC), "authorization_code_reuse", "", {"client_pk": 7}),
        ):
            db.session.add(AuditEvent(at=at, kind=kind, actor=actor, detail=detail))
        db.session.commit()


def kinds_listed(page: str) -> list[str]:
    import re

    return re.findall(r'<td data-label="Event"><code>([^<]+)</code>', page)


def test_every_event_newest_first(console, events):
    page = console.get("/admin/audit").text

    assert kinds_listed(page) == ["authorization_code_reuse", "pairing_created", "sign_in_failed", "client_created"]
    assert "2026-03-03 10:00:00 UTC" in page
    assert "<strong>account_id</strong>: acct-hvac" in page
    assert '<option value="sign_in_failed">sign_in_failed</option>' in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=pairing_created", ["pairing_created"]),
        ("actor=OWNER", ["pairing_created"]),
        ("q=acct-hvac", ["pairing_created"]),
        ("q=x@y.example", ["sign_in_failed"]),
        ("since=2026-03-02&until=2026-03-03", ["pairing_created", "sign_in_failed"]),
        ("until=2026-03-04", ["authorization_code_reuse", "pairing_created", "sign_in_failed", "client_created"]),
        ("since=2026-03-05", []),
    ],
)
def test_filters(console, events, query, expected):
    assert kinds_listed(console.get(f"/admin/audit?{query}").text) == expected


@pytest.mark.parametrize("field", ["since", "until"])
def test_a_bad_date_is_shown_next_to_its_field(console, events, field):
    response = console.get(f"/admin/audit?{field}=03/02/2026")

    assert response.status_code == 422
    assert f'<p class="field-error" id="audit-{field}-error">give a date as YYYY-MM-DD</p>' in response.text


def test_the_log_is_paged_without_counting_it(clean_app, console, events, monkeypatch):
    monkeypatch.setitem(clean_app.config, "ADMIN_PAGE_SIZE", 3)

    first = console.get("/admin/audit").text
    second = console.get("/admin/audit?page=2").text

    assert kinds_listed(first) == ["authorization_code_reuse", "pairing_created", "sign_in_failed"]
    assert "<p>1–3</p>" in first and 'href="/admin/audit?page=2" rel="next"' in first
    assert kinds_listed(second) == ["client_created"]
    assert 'rel="next"' not in second


def test_a_coalesced_event_shows_how_many_times_it_happened(clean_app, console):
    with clean_app.app_context():
        db.session.add(
            AuditEvent(
                kind="webhook_refused",
                actor="",
                detail={"topic": "accounts", "reason": "wrong key", "remote_addr": "203.0.113.9"},
                count=40,
                repeat_key="webhook_refused 203.0.113.9 wrong key 1764759600",
            )
        )
        db.session.commit()

    page = console.get("/admin/audit").text

    assert '<code>webhook_refused</code> <span class="muted">× 40</span>' in page
