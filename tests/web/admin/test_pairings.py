"""Pairings in the console: every pairing with its client, user, account, request id, status
and times; filters and search; an admin's decision on an asynchronous pairing."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent, Client, Pairing, TenantUser


@pytest.fixture
def pairings(clean_app, make):
    """Four pairings by two clients, newest last."""
    make.directory()
    sync = make.client(name="ServiceTitan production")
    async_client = make.client(name="ServiceTitan sandbox", async_pairing=True)
    with clean_app.app_context():
        clients = {c.client_id: c.id for c in db.session.scalars(select(Client))}
        users = {u.email: u.id for u in db.session.scalars(select(TenantUser))}
        start = clock.now() - timedelta(days=1)
        rows = [
            (sync.client_id, "owner@mtech.example", "acct-hvac", "COMPLETED", "req-100"),
            (sync.client_id, "manager@mtech.example", "acct-plumbing", "COMPLETED", "req-200"),
            (sync.client_id, "manager@mtech.example", "acct-closed", "DECLINED", "req-300"),
            (async_client.client_id, "manager@mtech.example", "acct-hvac", "PROCESSING", "req_%400"),
        ]
        ids = {}
        for n, (client_id, email, account_id, status, request_id) in enumerate(rows):
            at = start + timedelta(hours=n)
            pairing = Pairing(
                environment="sandbox",
                client_pk=clients[client_id],
                user_id=users[email],
                account_id=account_id,
                request_id=request_id,
                status=status,
                created_at=at,
                updated_at=at,
            )
            db.session.add(pairing)
            db.session.flush()
            ids[request_id] = pairing.id
        db.session.commit()
    return {"sync": sync.client_id, "async": async_client.client_id, **ids}


def request_ids(page: str) -> list[str]:
    import re

    return re.findall(r"<code>(req[^<]*)</code>", page)


def test_every_pairing_newest_first_with_its_details(console, pairings):
    page = console.get("/admin/pairings").text

    assert request_ids(page) == ["req_%400", "req-300", "req-200", "req-100"]
    for text in ("MTech HVAC", "owner@mtech.example", "ServiceTitan sandbox", "PROCESSING", "DECLINED", "UTC"):
        assert text in page
    assert "1–4 of 4" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=PROCESSING", ["req_%400"]),
        ("status=COMPLETED", ["req-200", "req-100"]),
        ("q=req-200", ["req-200"]),
        ("q=req_%25400", ["req_%400"]),
        ("q=plumbing", ["req-200"]),
        ("q=ACCT-CLOSED", ["req-300"]),
        ("q=owner@", ["req-100"]),
        ("q=%25", []),  # a percent sign is a character to find, not a wildcard
        ("q=req-", []),  # request ids match whole
        ("q=manager&status=COMPLETED", ["req-200"]),
        ("status=BOGUS", ["req_%400", "req-300", "req-200", "req-100"]),
    ],
)
def test_filters_and_search(console, pairings, query, expected):
    assert request_ids(console.get(f"/admin/pairings?{query}").text) == expected


def test_filter_by_client(console, pairings):
    assert request_ids(console.get(f"/admin/pairings?client_id={pairings['async']}").text) == ["req_%400"]


def test_long_lists_are_paginated(clean_app, console, pairings, monkeypatch):
    monkeypatch.setitem(clean_app.config, "ADMIN_PAGE_SIZE", 3)

    first = console.get("/admin/pairings?status=")
    second = console.get("/admin/pairings?page=2")

    assert request_ids(first.text) == ["req_%400", "req-300", "req-200"]
    assert "1–3 of 4" in first.text and 'href="/admin/pairings?page=2" rel="next"' in first.text
    assert request_ids(second.text) == ["req-100"]
    assert "Page 2 of 2" in second.text and 'rel="prev"' in second.text and 'rel="next"' not in second.text
    assert "Nothing to show on page 9." in console.get("/admin/pairings?page=9").text
    assert console.get("/admin/pairings?page=x").status_code == 200


def test_a_search_is_paginated_without_counting(clean_app, console, pairings, monkeypatch):
    monkeypatch.setitem(clean_app.config, "ADMIN_PAGE_SIZE", 1)

    page = console.get("/admin/pairings?q=manager").text

    assert request_ids(page) == ["req_%400"]
    assert "<p>1–1</p>" in page
    assert 'href="/admin/pairings?page=2&amp;q=manager" rel="next"' in page


def stored(app, pairing_id) -> Pairing:
    with app.app_context():
        row = db.session.get(Pairing, pairing_id)
        db.session.expunge(row)
        return row


@pytest.mark.parametrize(("decision", "status"), [("approve", "COMPLETED"), ("decline", "DECLINED")])
def test_an_admin_decides_an_asynchronous_pairing(clean_app, console, pairings, decision, status):
    pairing_id = pairings["req_%400"]
    page = console.get("/admin/pairings?status=PROCESSING").text
    assert f'action="/admin/pairings/{pairing_id}/decision?status=PROCESSING"' in page

    response = console.post(
        f"/admin/pairings/{pairing_id}/decision?status=PROCESSING", {"decision": decision, "confirmed": "yes"}
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/pairings?status=PROCESSING"
    decided = stored(clean_app, pairing_id)
    assert (decided.status, decided.decided_by) == (status, console.email)
    assert decided.decided_at is not None
    with clean_app.app_context():
        kinds = db.session.scalars(select(AuditEvent.kind).where(AuditEvent.actor == console.email)).all()
    # Approving completes acct-hvac in the sandbox again: its earlier pairing (req-100) is superseded.
    assert kinds == (["pairing_approved", "pairing_superseded"] if decision == "approve" else ["pairing_declined"])
    assert stored(clean_app, pairings["req-100"]).status == ("UNPAIRED" if decision == "approve" else "COMPLETED")
    assert f"{console.email}, " in console.get("/admin/pairings").text


def test_only_a_processing_pairing_can_be_decided(clean_app, console, pairings):
    response = console.post(
        f"/admin/pairings/{pairings['req-100']}/decision", {"decision": "decline", "confirmed": "yes"}
    )

    assert response.status_code == 409
    assert "Only a PROCESSING pairing can be decided; this one is COMPLETED." in response.text
    assert stored(clean_app, pairings["req-100"]).status == "COMPLETED"


def test_a_decision_must_be_approve_or_decline(clean_app, console, pairings):
    response = console.post(f"/admin/pairings/{pairings['req_%400']}/decision", {"decision": "maybe"})

    assert response.status_code == 422
    assert "Choose Approve or Decline." in response.text
    assert stored(clean_app, pairings["req_%400"]).status == "PROCESSING"
    assert console.post("/admin/pairings/999999/decision", {"decision": "approve"}).status_code == 404


@pytest.fixture
def custom(clean_app, pairings):
    """A Custom pairing of acct-plumbing in production, newest of all."""
    with clean_app.app_context():
        manager = db.session.scalar(select(TenantUser.id).where(TenantUser.email == "manager@mtech.example"))
        pairing = Pairing(
            mechanism="custom",
            environment="production",
            user_id=manager,
            account_id="acct-plumbing",
            request_id="req-custom-9",
            status="COMPLETED",
        )
        db.session.add(pairing)
        db.session.commit()
        return pairing.id


def test_custom_pairings_are_listed_with_mechanism_environment_and_profiles(console, custom):
    page = console.get("/admin/pairings").text

    assert request_ids(page)[0] == "req-custom-9"
    row = page[page.index(f'id="pairing-{custom}"') :].split("</tr>")[0]
    assert '<td data-label="Mechanism">Custom</td>' in row
    assert '<td data-label="Environment">production</td>' in row
    assert '<td data-label="Profiles">Main</td>' in row
    assert f'action="/admin/pairings/{custom}/unpair"' in row


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("environment=production", ["req-custom-9"]),
        ("mechanism=custom", ["req-custom-9"]),
        ("environment=sandbox&status=DECLINED", ["req-300"]),
        ("environment=nowhere", ["req-custom-9", "req_%400", "req-300", "req-200", "req-100"]),
    ],
)
def test_the_environment_and_mechanism_filters(console, custom, query, expected):
    assert request_ids(console.get(f"/admin/pairings?{query}").text) == expected


def test_unpair_asks_first_then_ends_the_pairing_audited_without_telling_servicetitan(clean_app, console, custom):
    from oidc_provider.core.models import OutboxMessage

    asked = console.post(f"/admin/pairings/{custom}/unpair?environment=production", {})
    assert asked.status_code == 200
    assert "Unpair MTech Plumbing (production)?" in asked.text
    assert "bookings for MTech Plumbing are refused until it is paired again" in asked.text
    assert stored(clean_app, custom).status == "COMPLETED"

    done = console.post(f"/admin/pairings/{custom}/unpair?environment=production", {"confirmed": "yes"})

    assert done.status_code == 302
    assert done.headers["Location"] == "/admin/pairings?environment=production"
    ended = stored(clean_app, custom)
    assert (ended.status, ended.unpaired_reason, ended.unpaired_by) == ("UNPAIRED", "unpaired", console.email)
    with clean_app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "pairing_unpaired"))
        assert (event.actor, event.detail["pairing_id"]) == (console.email, custom)
    assert make_count(clean_app, OutboxMessage) == 0
    assert f"by {console.email}" in console.get("/admin/pairings").text


def make_count(app, model) -> int:
    from sqlalchemy import func

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize(("target", "status"), [("processing", 409), ("missing", 404), ("huge", 404)])
def test_unpair_refusals_change_nothing(clean_app, console, pairings, target, status):
    pairing_id = {"processing": pairings["req_%400"], "missing": 999_999, "huge": 2**40}[target]

    response = console.post(f"/admin/pairings/{pairing_id}/unpair", {"confirmed": "yes"})

    assert response.status_code == status
    if target == "processing":
        assert "Only a COMPLETED pairing can be unpaired; this one is PROCESSING." in response.text
        assert stored(clean_app, pairing_id).status == "PROCESSING"


def test_the_filtered_pairings_export_as_json_like_the_api_and_as_csv(console, pairings, custom, clean_app):
    exported = console.get("/admin/pairings.json?environment=sandbox&status=COMPLETED")
    assert exported.status_code == 200
    assert exported.headers["Content-Disposition"] == 'attachment; filename="pairings.json"'
    items = json.loads(exported.text)["items"]
    assert [(p["requestId"], p["mechanism"], p["environment"]) for p in items] == [
        ("req-200", "openid", "sandbox"),
        ("req-100", "openid", "sandbox"),
    ]
    assert items[1]["account"]["profiles"] == [{"id": "p-north", "name": "North"}, {"id": "p-south", "name": "South"}]

    table = console.get("/admin/pairings.csv?mechanism=custom")
    assert table.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(table.text)))
    assert rows[0][:5] == ["id", "mechanism", "status", "requestId", "environment"]
    assert [row[1:8] for row in rows[1:]] == [
        ["custom", "COMPLETED", "req-custom-9", "production", "acct-plumbing", "MTech Plumbing", "p-main: Main"]
    ]
    with clean_app.app_context():
        exports = db.session.scalars(
            select(AuditEvent).where(AuditEvent.kind == "pairings_exported").order_by(AuditEvent.id)
        ).all()
    assert [(e.actor, e.detail["format"], e.detail["count"]) for e in exports] == [
        ("admin@partner.example", "json", 2),
        ("admin@partner.example", "csv", 1),
    ]
