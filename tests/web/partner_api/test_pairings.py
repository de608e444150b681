"""The pairings API: every pairing, OpenID Connect and Custom, in one list with filters and a
cursor; unpairing ends a pairing here, audited, tells ServiceTitan nothing, and bookings for
the account are refused until it is paired again."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent, ExtraDetailParameter, JobType, OutboxMessage, Pairing, TenantUser
from tests.web.partner_api.conftest import api_token, assert_problem, bearer
from tests.web.partner_api.test_bookings import booking_without_token, post


@pytest.fixture
def paired(clean_app, make, flows):
    """acct-hvac paired by OpenID Connect (sandbox) and acct-plumbing by Custom pairing
    (production); the partner's job type configured for bookings."""
    make.directory()
    flows.tokens(make.client())
    with clean_app.app_context():
        manager = db.session.scalar(select(TenantUser).where(TenantUser.email == "manager@mtech.example"))
        db.session.add(
            Pairing(
                mechanism="custom",
                environment="production",
                request_id="req-custom-1",
                user_id=manager.id,
                account_id="acct-plumbing",
                status="COMPLETED",
            )
        )
        db.session.add_all(
            [
                JobType(category="Plumbing", partner_key="partner_job_type_1", position=1),
                ExtraDetailParameter(key="gate_code", key_folded="gate_code", display_name="Gate code"),
            ]
        )
        db.session.commit()
        return {p.mechanism: p.id for p in db.session.scalars(select(Pairing))}


@pytest.fixture
def reader(web, make):
    return api_token(web, *make.api_client("pairings:read"))


@pytest.fixture
def writer(web, make):
    return api_token(web, *make.api_client("pairings:read pairings:write bookings:write", name="Pairing desk"))


def listed(web, token, **query):
    response = web.get("/api/v1/pairings", headers=bearer(token), query_string=query)
    assert response.status_code == 200, response.json
    return response.json


def test_every_pairing_of_both_mechanisms_is_listed_newest_first(web, clean_app, paired, reader):
    body = listed(web, reader)

    assert body["next"] is None
    custom, openid = body["items"]
    with clean_app.app_context():
        owner, manager = (
            db.session.scalar(select(TenantUser.subject).where(TenantUser.email == email))
            for email in ("owner@mtech.example", "manager@mtech.example")
        )
    assert custom == {
        "id": paired["custom"],
        "mechanism": "custom",
        "status": "COMPLETED",
        "requestId": "req-custom-1",
        "environment": "production",
        "account": {"id": "acct-plumbing", "name": "MTech Plumbing", "profiles": [{"id": "p-main", "name": "Main"}]},
        "sub": manager,
        "createdAt": custom["createdAt"],
        "updatedAt": custom["updatedAt"],
        "decidedAt": None,
        "decidedBy": None,
        "unpairedReason": None,
        "unpairedBy": None,
        "servicetitanError": None,
    }
    assert (openid["mechanism"], openid["environment"], openid["account"]["id"], openid["sub"]) == (
        "openid",
        "sandbox",
        "acct-hvac",
        owner,
    )
    assert openid["account"]["profiles"] == [{"id": "p-north", "name": "North"}, {"id": "p-south", "name": "South"}]


@pytest.mark.parametrize(
    ("query", "mechanisms"),
    [
        ({"environment": "sandbox"}, ["openid"]),
        ({"environment": "production"}, ["custom"]),
        ({"accountId": "acct-plumbing"}, ["custom"]),
        ({"accountId": "acct-nobody"}, []),
        ({"status": "COMPLETED"}, ["custom", "openid"]),
        ({"status": "UNPAIRED"}, []),
        ({"mechanism": "openid"}, ["openid"]),
    ],
)
def test_the_list_filters(web, paired, reader, query, mechanisms):
    assert [item["mechanism"] for item in listed(web, reader, **query)["items"]] == mechanisms


def test_the_list_pages_with_a_cursor(web, paired, reader):
    first = listed(web, reader, limit=1)
    second = listed(web, reader, limit=1, cursor=first["next"])

    assert [item["mechanism"] for item in first["items"] + second["items"]] == ["custom", "openid"]
    assert second["next"] is None


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ({"status": "PAIRED"}, "status"),
        ({"environment": "staging"}, "environment"),
        ({"mechanism": "saml"}, "mechanism"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"cursor": "abc"}, "cursor"),
    ],
)
def test_a_bad_filter_is_422_with_where(web, paired, reader, query, where):
    assert_problem(web.get("/api/v1/pairings", headers=bearer(reader), query_string=query), 422, where)


def test_the_cli_shows_the_same_representation(web, runner, paired, reader):
    assert json.loads(runner.invoke(args=["pairings", "list", "--json"]).output) == listed(web, reader)["items"]


def test_reading_needs_pairings_read(web, make, paired):
    token = api_token(web, *make.api_client("bookings:read", name="Other"))
    assert_problem(web.get("/api/v1/pairings", headers=bearer(token)), 403, "Authorization")
    assert_problem(web.get("/api/v1/pairings"), 401, "Authorization")


def queued(make) -> int:
    return make.count(OutboxMessage)


def test_unpair_ends_the_pairing_here_audited_and_tells_servicetitan_nothing(web, clean_app, make, paired, writer):
    before = queued(make)
    response = web.post(f"/api/v1/pairings/{paired['openid']}/unpair", headers=bearer(writer))

    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["unpairedReason"], response.json["unpairedBy"]) == (
        "UNPAIRED",
        "unpaired",
        "api-client:Pairing desk",
    )
    assert queued(make) == before
    with clean_app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "pairing_unpaired"))
        assert (event.actor, event.detail["pairing_id"], event.detail["account_id"]) == (
            "api-client:Pairing desk",
            paired["openid"],
            "acct-hvac",
        )
    assert [i["status"] for i in listed(web, writer, mechanism="openid")["items"]] == ["UNPAIRED"]


def test_bookings_for_an_unpaired_account_are_refused_until_it_is_paired_again(web, make, flows, paired, writer):
    web.post(f"/api/v1/pairings/{paired['openid']}/unpair", headers=bearer(writer))
    before = queued(make)

    refused = post(web, writer, booking_without_token())

    body = assert_problem(refused, 422, "slot.accountId")
    assert "has no COMPLETED pairing" in json.dumps(body)
    assert queued(make) == before
    flows.tokens(make.client(name="ServiceTitan again"))  # paired again
    assert post(web, writer, booking_without_token()).status_code == 202


@pytest.mark.parametrize(("pairing", "status", "where"), [("missing", 404, "id"), ("unpaired", 409, "status")])
def test_unpair_refusals(web, clean_app, make, paired, writer, pairing, status, where):
    pairing_id = 999_999 if pairing == "missing" else paired["openid"]
    if pairing == "unpaired":
        web.post(f"/api/v1/pairings/{pairing_id}/unpair", headers=bearer(writer))
    before, events = queued(make), make.count(AuditEvent)

    assert_problem(web.post(f"/api/v1/pairings/{pairing_id}/unpair", headers=bearer(writer)), status, where)
    assert queued(make) == before
    assert make.count(AuditEvent) == events


def test_an_id_beyond_the_column_is_404(web, paired, writer):
    assert_problem(web.post(f"/api/v1/pairings/{2**40}/unpair", headers=bearer(writer)), 404, "id")


def test_unpairing_needs_pairings_write(web, make, paired, reader):
    assert_problem(
        web.post(f"/api/v1/pairings/{paired['openid']}/unpair", headers=bearer(reader)), 403, "Authorization"
    )


def test_a_booking_goes_to_the_environment_of_the_accounts_pairing(web, paired, writer):
    """acct-plumbing is paired by Custom pairing in production: its booking goes there."""
    booking = booking_without_token(2)
    booking["slot"].update(accountId="acct-plumbing", profileId="p-main")

    accepted = post(web, writer, booking)

    assert accepted.status_code == 202, accepted.json
    assert accepted.json["environment"] == "production"


def test_a_booking_for_an_environment_the_account_is_not_paired_in_is_refused(web, make, paired, writer):
    booking = booking_without_token(3)
    booking["slot"].update(accountId="acct-plumbing", profileId="p-main")

    assert_problem(post(web, writer, booking, environment="sandbox"), 422, "slot.accountId")
    assert queued(make) == 0
