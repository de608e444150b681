"""The pairing record: made by the code exchange, bound to its access token, named by
ServiceTitan's request id on the account-info call."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import token_digest
from oidc_provider.core.models import AccessToken, Account, Client, Pairing, Profile
from oidc_provider.pairing.lifecycle import initial_status
from oidc_provider.servicetitan.statuses import COMPLETED, DECLINED, PROCESSING
from tests.flows import Flows


@pytest.fixture
def servicetitan(make):
    make.directory()
    return make.client()


def pairings(app) -> list[dict]:
    with app.app_context():
        return [
            {
                "client_id": p.client.client_id,
                "email": p.user.email,
                "account_id": p.account_id,
                "request_id": p.request_id,
                "status": p.status,
                "created_at": p.created_at,
                "updated_at": p.updated_at,
                "access_token_id": p.access_token_id,
            }
            for p in db.session.scalars(select(Pairing).order_by(Pairing.id))
        ]


def token_id(app, access_token: str) -> int:
    with app.app_context():
        return db.session.scalar(select(AccessToken.id).where(AccessToken.token_hash == token_digest(access_token)))


def test_exchange_records_a_pairing_bound_to_its_access_token(flows, clean_app, frozen_clock, servicetitan):
    tokens = flows.tokens(servicetitan)
    exchanged_at = frozen_clock.now()

    assert pairings(clean_app) == [
        {
            "client_id": servicetitan.client_id,
            "email": "owner@mtech.example",
            "account_id": "acct-hvac",
            "request_id": None,
            "status": COMPLETED,
            "created_at": exchanged_at,
            "updated_at": exchanged_at,
            "access_token_id": token_id(clean_app, tokens["access_token"]),
        }
    ]


def test_account_info_call_names_the_pairing_with_its_request_id(flows, clean_app, frozen_clock, servicetitan):
    tokens = flows.tokens(servicetitan)
    exchanged_at = frozen_clock.now()
    frozen_clock.advance(30)

    assert flows.account_info(tokens["access_token"], request_id="9f1c-req").status_code == 200

    [pairing] = pairings(clean_app)
    assert pairing["request_id"] == "9f1c-req"
    assert pairing["status"] == COMPLETED
    assert pairing["created_at"] == exchanged_at
    assert pairing["updated_at"] == frozen_clock.now()


def test_asking_again_changes_nothing(flows, clean_app, frozen_clock, servicetitan):
    tokens = flows.tokens(servicetitan)
    flows.account_info(tokens["access_token"], request_id="req-1")
    before = pairings(clean_app)
    frozen_clock.advance(30)

    assert flows.account_info(tokens["access_token"], request_id="req-1").status_code == 200

    assert pairings(clean_app) == before


@pytest.mark.parametrize(
    ("email", "account_id", "settings", "status"),
    [
        ("manager@mtech.example", "acct-closed", {}, DECLINED),
        ("closed@mtech.example", None, {}, DECLINED),
        ("owner@mtech.example", None, {"async_pairing": True}, PROCESSING),
        ("closed@mtech.example", None, {"async_pairing": True}, DECLINED),
        ("owner@mtech.example", None, {"account_info_claim": True}, COMPLETED),
    ],
    ids=["manager-closed", "closed-only", "async", "async-not-eligible", "claim"],
)
def test_pairing_status_is_recorded(flows, make, clean_app, email, account_id, settings, status):
    make.directory()
    client = make.client(**settings)

    tokens = flows.tokens(client, email=email, account_id=account_id)

    [pairing] = pairings(clean_app)
    assert (pairing["email"], pairing["status"], pairing["request_id"]) == (email, status, None)
    assert pairing["access_token_id"] == token_id(clean_app, tokens["access_token"])


def test_each_exchange_is_a_pairing_of_its_own(flows, clean_app, servicetitan):
    manager = Flows(clean_app.test_client())
    first = manager.tokens(servicetitan, email="manager@mtech.example", account_id="acct-hvac")
    second = manager.tokens(servicetitan, email="manager@mtech.example", account_id="acct-plumbing")
    manager.account_info(first["access_token"], request_id="req-a")
    manager.account_info(second["access_token"], request_id="req-b")

    recorded = {(p["account_id"], p["request_id"]) for p in pairings(clean_app)}
    assert recorded == {("acct-hvac", "req-a"), ("acct-plumbing", "req-b")}


def test_a_refused_exchange_records_no_pairing(flows, make, servicetitan):
    code = flows.code(servicetitan)

    assert flows.exchange(servicetitan, code, redirect_uri="https://servicetitan.example/other").status_code == 400

    assert make.count(Pairing) == 0


@pytest.mark.parametrize(
    ("eligible", "async_pairing", "status"),
    [(True, False, COMPLETED), (False, False, DECLINED), (True, True, PROCESSING), (False, True, DECLINED)],
)
def test_initial_status(eligible, async_pairing, status):
    account = Account(eligible=eligible, profiles=[Profile(id="p-1", name="Main")])
    assert initial_status(Client(async_pairing=async_pairing), account) == status


def test_an_account_without_profiles_is_declined():
    # Asynchronous pairings stay PROCESSING: the admin's approval declines them (test_profiles_mandatory).
    assert initial_status(Client(async_pairing=False), Account(eligible=True, profiles=[])) == DECLINED


def test_every_pairing_is_in_the_audit_log(clean_app, servicetitan, flows):
    """Made by the code exchange, named by ServiceTitan's request id: both are audited."""
    from oidc_provider.core.models import AuditEvent

    tokens = flows.tokens(servicetitan)
    flows.account_info(tokens["access_token"], request_id="req-audit")
    flows.account_info(tokens["access_token"], request_id="req-audit")  # the same answer again, no new event

    with clean_app.app_context():
        events = [
            (e.kind, e.actor, e.detail)
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.kind.like("pairing%")).order_by(AuditEvent.id)
            )
        ]
        pairing_id = db.session.scalar(select(Pairing.id))
    assert [(kind, actor) for kind, actor, _ in events] == [
        ("pairing_created", "owner@mtech.example"),
        ("pairing_request_id_bound", "owner@mtech.example"),
    ]
    assert events[0][2] == {
        "client_id": servicetitan.client_id,
        "account_id": "acct-hvac",
        "status": COMPLETED,
        "remote_addr": "127.0.0.1",
    }
    assert events[1][2] == {
        "pairing_id": pairing_id,
        "request_id": "req-audit",
        "account_id": "acct-hvac",
        "status": COMPLETED,
        "remote_addr": "127.0.0.1",
    }


@pytest.mark.parametrize(("second_request_id", "answered"), [("req-first", True), ("req-other", False)])
def test_a_binding_made_a_moment_ago_elsewhere_is_respected(
    clean_app, servicetitan, flows, second_request_id, answered
):
    """Two account-info calls with one token at the same moment: both read the pairing
    unbound, one binds it. The other answers the same when its request id is the one bound,
    and is refused otherwise; only one binding is audited."""
    from oidc_provider.core.models import AuditEvent
    from oidc_provider.oidc.server import Base64BearerTokenValidator
    from oidc_provider.pairing.lifecycle import PairingConflict, pairing_for_request

    access_token = flows.tokens(servicetitan)["access_token"]
    with clean_app.test_request_context():
        read_before_the_other_call = Base64BearerTokenValidator().authenticate_token(access_token)
        db.session.rollback()
    assert read_before_the_other_call.pairing.request_id is None
    flows.account_info(access_token, request_id="req-first")  # the other call, which binds

    with clean_app.test_request_context():
        if answered:
            assert pairing_for_request(read_before_the_other_call, second_request_id).request_id == "req-first"
        else:
            with pytest.raises(PairingConflict, match="already bound to another request_id"):
                pairing_for_request(read_before_the_other_call, second_request_id)
        db.session.commit()
        assert db.session.scalar(select(Pairing.request_id)) == "req-first"
        assert db.session.scalar(select(func.count()).where(AuditEvent.kind == "pairing_request_id_bound")) == 1
