"""Asynchronous OpenID pairing: account-info answered PROCESSING; an admin's approval or
refusal (``flask pairings approve|decline``, or the console through ``pairing.decide``)
queues COMPLETED or DECLINED for ServiceTitan in the same transaction."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Account, Client, OutboxMessage, Pairing
from oidc_provider.pairing.lifecycle import PairingConflict, decide
from oidc_provider.servicetitan.leads_api import ACCOUNTS_PATH
from oidc_provider.servicetitan.outbox import OutboxWorker

HVAC = {
    "id": "acct-hvac",
    "name": "MTech HVAC",
    "profiles": [{"id": "p-north", "name": "North"}, {"id": "p-south", "name": "South"}],
}


@pytest.fixture
def async_client(make, st_sandbox):
    make.directory()
    make.servicetitan(st_sandbox.url)
    return make.client(async_pairing=True)


def processing(flows, client, sandbox, request_id="req-async-1", email="owner@mtech.example", account_id=None):
    """ServiceTitan's pairing up to account-info, which answers PROCESSING; the sandbox
    records the request as waiting, as ServiceTitan does."""
    tokens = flows.tokens(client, email=email, account_id=account_id)
    answer = flows.account_info(tokens["access_token"], request_id)
    assert answer.json == {"Status": "PROCESSING", "RequestId": request_id}
    sandbox.state.record_account_info(request_id, answer.json)
    return tokens


def queued(app) -> list[tuple[str, str, dict]]:
    with app.app_context():
        return [(m.environment, m.state, m.payload) for m in db.session.scalars(select(OutboxMessage))]


def test_approve_tells_servicetitan_completed(flows, runner, clean_app, async_client, st_sandbox, frozen_clock):
    tokens = processing(flows, async_client, st_sandbox)

    result = runner.invoke(args=["pairings", "approve", "req-async-1", "--actor", "ops@partner.example", "--json"])

    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert (shown["status"], shown["decidedBy"]) == ("COMPLETED", "ops@partner.example")
    assert queued(clean_app) == [
        ("sandbox", "pending", {"requestId": "req-async-1", "status": "COMPLETED", "account": HVAC})
    ]
    OutboxWorker(clean_app, rng=random.Random(1)).run_once()
    assert [a.body for a in st_sandbox.state.applied if a.path == ACCOUNTS_PATH] == [
        {"requestId": "req-async-1", "status": "COMPLETED", "account": HVAC}
    ]
    assert st_sandbox.state.requests["req-async-1"].status == "COMPLETED"
    # account-info now answers the decision too
    assert flows.account_info(tokens["access_token"], "req-async-1").json["Status"] == "COMPLETED"


@pytest.mark.parametrize(
    ("command", "eligible"),
    [
        ("decline", True),
        ("approve", False),  # an account no longer eligible when the admin approves is declined
    ],
)
def test_decline_tells_servicetitan_declined(flows, runner, clean_app, async_client, st_sandbox, command, eligible):
    processing(flows, async_client, st_sandbox)
    with clean_app.app_context():
        db.session.get(Account, "acct-hvac").eligible = eligible
        db.session.commit()

    result = runner.invoke(args=["pairings", command, "req-async-1"])

    assert result.exit_code == 0, result.output
    assert "pairing req-async-1 is DECLINED" in result.output
    assert queued(clean_app) == [("sandbox", "pending", {"requestId": "req-async-1", "status": "DECLINED"})]


def test_a_decided_pairing_cannot_be_decided_again(flows, runner, clean_app, async_client, st_sandbox):
    processing(flows, async_client, st_sandbox)
    runner.invoke(args=["pairings", "decline", "req-async-1"])

    again = runner.invoke(args=["pairings", "approve", "req-async-1"])

    assert again.exit_code == 1
    assert "pairing 'req-async-1' is DECLINED: only a PROCESSING pairing can be decided" in again.output
    with clean_app.app_context():
        pairing = db.session.scalar(select(Pairing))
        with pytest.raises(PairingConflict):
            decide(pairing, True, "console")
    assert len(queued(clean_app)) == 1


def test_an_unknown_request_id_is_refused(runner, clean_app, async_client):
    result = runner.invoke(args=["pairings", "approve", "req-nobody-sent"])
    assert result.exit_code == 1
    assert "no pairing with request id 'req-nobody-sent'" in result.output


def test_a_decision_before_account_info_waits_for_it(flows, clean_app, async_client, frozen_clock):
    tokens = flows.tokens(async_client)
    with clean_app.app_context():
        decide(db.session.scalar(select(Pairing)), True, "console")

    assert queued(clean_app) == []  # ServiceTitan has no request id to hear about yet
    assert flows.account_info(tokens["access_token"], "req-late").json["Status"] == "COMPLETED"


def test_the_clients_environment_is_the_one_told(flows, runner, clean_app, async_client, st_sandbox):
    processing(flows, async_client, st_sandbox)
    with clean_app.app_context():
        db.session.scalar(select(Client)).servicetitan_environment = "production"
        db.session.commit()

    runner.invoke(args=["pairings", "approve", "req-async-1"])

    assert [environment for environment, _, _ in queued(clean_app)] == ["production"]


def test_pairings_list(flows, runner, clean_app, async_client, st_sandbox):
    processing(flows, async_client, st_sandbox)

    listed = json.loads(runner.invoke(args=["pairings", "list", "--status", "PROCESSING", "--json"]).output)

    assert [(p["requestId"], p["account"]["id"], p["mechanism"], p["environment"], p["status"]) for p in listed] == [
        ("req-async-1", "acct-hvac", "openid", "sandbox", "PROCESSING")
    ]
    assert json.loads(runner.invoke(args=["pairings", "list", "--status", "COMPLETED", "--json"]).output) == []


def test_pairings_list_shows_both_mechanisms_with_their_environment(flows, runner, clean_app, make):
    make.directory()
    flows.tokens(make.client())
    with clean_app.app_context():
        owner = db.session.scalar(select(Pairing.user_id))
        db.session.add(
            Pairing(
                mechanism="custom",
                environment="production",
                request_id="req-custom-1",
                user_id=owner,
                account_id="acct-plumbing",
                status="DECLINED",
            )
        )
        db.session.commit()

    shown = runner.invoke(args=["pairings", "list"]).output.splitlines()
    assert [line.split()[1:4] for line in shown] == [
        ["custom", "production", "DECLINED"],
        ["openid", "sandbox", "COMPLETED"],
    ]

    def listed(*options):
        return [p["mechanism"] for p in json.loads(runner.invoke(args=["pairings", "list", "--json", *options]).output)]

    assert listed("--environment", "production") == ["custom"]
    assert listed("--account", "acct-hvac") == ["openid"]
    assert listed("--status", "DECLINED", "--environment", "sandbox") == []


def test_pairings_unpair(flows, runner, clean_app, make):
    make.directory()
    flows.tokens(make.client())
    with clean_app.app_context():
        pairing_id = db.session.scalar(select(Pairing.id))

    done = runner.invoke(args=["pairings", "unpair", str(pairing_id), "--actor", "ops@partner.example", "--json"])

    assert done.exit_code == 0, done.output
    shown = json.loads(done.output)
    assert (shown["status"], shown["unpairedReason"], shown["unpairedBy"]) == (
        "UNPAIRED",
        "unpaired",
        "ops@partner.example",
    )
    assert queued(clean_app) == []  # ServiceTitan is not told
    again = runner.invoke(args=["pairings", "unpair", str(pairing_id)])
    assert again.exit_code == 1
    assert "Only a COMPLETED pairing can be unpaired; this one is UNPAIRED." in again.output
    missing = runner.invoke(args=["pairings", "unpair", "999999"])
    assert missing.exit_code == 1 and "no pairing with id 999999" in missing.output
