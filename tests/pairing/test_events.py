"""Each pairing status written is one event of the partner's feed: pairing.processing,
.completed and .declined, for OpenID Connect and Custom pairings alike."""

from __future__ import annotations

from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Account, Pairing, TenantUser
from oidc_provider.pairing import custom, lifecycle
from oidc_provider.servicetitan import events
from tests.flows import Flows


def pairing_events(app) -> list[tuple[str, dict]]:
    with app.app_context():
        return [(e["type"], e["data"]) for e in events.page(None, 100)[0]]


def test_an_openid_pairing_is_one_event_per_status(make, clean_app):
    make.directory()
    Flows(clean_app.test_client()).tokens(make.client(account_info_claim=True))
    Flows(clean_app.test_client()).tokens(make.client(name="Asynchronous", async_pairing=True))
    Flows(clean_app.test_client()).tokens(
        make.client(name="Closed"), email="manager@mtech.example", account_id="acct-closed"
    )

    got = pairing_events(clean_app)
    assert [(kind, data["status"], data["accountId"]) for kind, data in got] == [
        ("pairing.completed", "COMPLETED", "acct-hvac"),
        ("pairing.processing", "PROCESSING", "acct-hvac"),
        ("pairing.declined", "DECLINED", "acct-closed"),
    ]
    assert {(data["mechanism"], data["environment"]) for _, data in got} == {("openid", "sandbox")}

    with clean_app.app_context():
        waiting = db.session.scalar(select(Pairing).where(Pairing.status == "PROCESSING"))
        lifecycle.decide(waiting, True, "admin@partner.example")
        pairing_id = waiting.id
    kind, data = pairing_events(clean_app)[-1]
    assert (kind, data["pairingId"], data["status"]) == ("pairing.completed", pairing_id, "COMPLETED")


def test_a_custom_pairing_is_one_event_for_its_answer(make, clean_app):
    make.directory()
    with clean_app.app_context():
        owner = db.session.scalar(select(TenantUser).where(TenantUser.email == "owner@mtech.example"))
        custom.answer("req-yes", owner, db.session.get(Account, "acct-hvac"))
        custom.answer("req-no", owner, None)

    assert pairing_events(clean_app) == [
        (
            "pairing.completed",
            {
                "mechanism": "custom",
                "requestId": "req-yes",
                "accountId": "acct-hvac",
                "environment": "sandbox",
                "status": "COMPLETED",
            },
        ),
        (
            "pairing.declined",
            {
                "mechanism": "custom",
                "requestId": "req-no",
                "accountId": None,
                "environment": "sandbox",
                "status": "DECLINED",
            },
        ),
    ]


def test_a_request_id_answered_twice_records_no_second_event(make, clean_app):
    make.directory()
    with clean_app.app_context():
        owner = db.session.scalar(select(TenantUser).where(TenantUser.email == "owner@mtech.example"))
        custom.answer("req-once", owner, None)
        try:
            custom.answer("req-once", owner, None)
        except custom.CustomPairingError:
            pass
    assert [kind for kind, _ in pairing_events(clean_app)] == ["pairing.declined"]


def test_an_unpairing_is_its_own_event_type(clean_app):
    with clean_app.app_context():
        events.pairing_changed("UNPAIRED", {"mechanism": "openid", "requestId": "req-1", "environment": "sandbox"})
        db.session.commit()
    [(kind, data)] = pairing_events(clean_app)
    assert (kind, data["status"]) == ("pairing.unpaired", "UNPAIRED")
    assert kind in events.TYPES
