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


def test_a_custom_pairing_is_one_event_when_opened_and_one_for_its_answer(make, clean_app):
    make.directory()
    with clean_app.app_context():
        owner = db.session.scalar(select(TenantUser).where(TenantUser.email == "owner@mtech.example"))
        custom.answer(custom.open_pairing("req-yes", owner), owner, db.session.get(Account, "acct-hvac"))
        custom.answer(custom.open_pairing("req-no", owner), owner, None)

    got = pairing_events(clean_app)
    assert [(kind, data["requestId"], data["accountId"]) for kind, data in got] == [
        ("pairing.processing", "req-yes", None),
        ("pairing.completed", "req-yes", "acct-hvac"),
        ("pairing.processing", "req-no", None),
        ("pairing.declined", "req-no", None),
    ]
    assert {(data["mechanism"], data["environment"]) for _, data in got} == {("custom", "sandbox")}


def test_a_request_id_answered_twice_records_no_second_event(make, clean_app):
    make.directory()
    with clean_app.app_context():
        owner = db.session.scalar(select(TenantUser).where(TenantUser.email == "owner@mtech.example"))
        pairing = custom.open_pairing("req-once", owner)
        custom.open_pairing("req-once", owner)  # opened again: the same pairing, nothing new
        custom.answer(pairing, owner, None)
        try:
            custom.answer(pairing, owner, None)
        except custom.CustomPairingError:
            pass
    assert [kind for kind, _ in pairing_events(clean_app)] == ["pairing.processing", "pairing.declined"]


def test_unpairing_and_superseding_are_unpaired_events(make, clean_app):
    make.directory()
    client = make.client()
    Flows(clean_app.test_client()).tokens(client)
    Flows(clean_app.test_client()).tokens(client)  # the same account again: supersedes the first
    with clean_app.app_context():
        first, second = db.session.scalars(select(Pairing.id).order_by(Pairing.id)).all()
        lifecycle.unpair(db.session.get(Pairing, second), "admin@partner.example")

    got = [(kind, data["pairingId"], data.get("unpairedReason")) for kind, data in pairing_events(clean_app)]
    assert got == [
        ("pairing.completed", first, None),
        ("pairing.unpaired", first, "superseded"),
        ("pairing.completed", second, None),
        ("pairing.unpaired", second, "unpaired"),
    ]
    assert "pairing.unpaired" in events.TYPES
