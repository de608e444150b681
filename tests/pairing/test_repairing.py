"""Re-pairing: an account paired again (a new request id) supersedes its earlier pairing in
the same environment, so it has one active COMPLETED pairing per environment. When
ServiceTitan refuses a first report with DuplicateAccount or DuplicateRequestId, the tenant
and the admin see its answer with what to do; a "duplicate" answer to a retry after an
unknown outcome counts as delivered and shows nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent, Client, Pairing
from oidc_provider.servicetitan.leads_api import ACCOUNTS_PATH
from tests.pairing.test_custom import decide, deliver, page_url, progress_state, sign_in, statuses_sent


def pairings(app) -> list[tuple]:
    with app.app_context():
        rows = db.session.scalars(select(Pairing).order_by(Pairing.id))
        return [(p.mechanism, p.environment, p.account_id, p.status, p.unpaired_reason) for p in rows]


def test_pairing_an_account_again_supersedes_the_earlier_pairing(flows, make, clean_app):
    make.directory()
    client = make.client()
    flows.tokens(client)

    flows.tokens(client)  # ServiceTitan's "Add Account" again, with a new request id

    assert pairings(clean_app) == [
        ("openid", "sandbox", "acct-hvac", "UNPAIRED", "superseded"),
        ("openid", "sandbox", "acct-hvac", "COMPLETED", None),
    ]
    with clean_app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "pairing_superseded"))
        first, second = db.session.scalars(select(Pairing.id).order_by(Pairing.id)).all()
        assert (event.actor, event.detail["pairing_ids"], event.detail["by_pairing_id"]) == (
            "owner@mtech.example",
            [first],
            second,
        )


def test_a_pairing_in_the_other_environment_is_not_superseded(flows, make, clean_app):
    make.directory()
    sandbox_client = make.client(name="ServiceTitan sandbox")
    production_client = make.client(name="ServiceTitan production")
    with clean_app.app_context():
        for client_id, environment in (
            (sandbox_client.client_id, "sandbox"),
            (production_client.client_id, "production"),
        ):
            db.session.scalar(
                select(Client).where(Client.client_id == client_id)
            ).servicetitan_environment = environment
        db.session.commit()
    flows.tokens(sandbox_client)
    flows.tokens(production_client)

    assert pairings(clean_app) == [
        ("openid", "sandbox", "acct-hvac", "COMPLETED", None),
        ("openid", "production", "acct-hvac", "COMPLETED", None),
    ]


def test_a_declined_pairing_supersedes_nothing(flows, make, clean_app):
    make.directory()
    client = make.client()
    flows.tokens(client, email="manager@mtech.example", account_id="acct-closed")
    flows.tokens(client, email="manager@mtech.example", account_id="acct-closed")

    assert [status for _, _, _, status, _ in pairings(clean_app)] == ["DECLINED", "DECLINED"]


@pytest.fixture
def sandbox(make, st_sandbox):
    make.directory()
    make.servicetitan(st_sandbox.url)
    return st_sandbox


def custom_pairing(web, app, sandbox, email="owner@mtech.example", account_id=None) -> str:
    request_id = sandbox.state.create_request("custom").request_id
    decide(web, request_id, sign_in(web, request_id, email), "allow", account_id)
    deliver(app)
    return request_id


def test_custom_re_pairing_supersedes_and_servicetitans_duplicate_account_is_shown_with_what_to_do(
    clean_app, sandbox, runner, console, frozen_clock
):
    first = custom_pairing(clean_app.test_client(), clean_app, sandbox)
    web = clean_app.test_client()
    second = custom_pairing(web, clean_app, sandbox)

    assert pairings(clean_app) == [
        ("custom", "sandbox", "acct-hvac", "UNPAIRED", "superseded"),
        ("custom", "sandbox", "acct-hvac", "COMPLETED", None),
    ]
    # The sandbox, as ServiceTitan, knows acct-hvac from the first pairing already.
    assert statuses_sent(sandbox)[-1] == {"requestId": second, "status": "PROCESSING"}
    tenant_page = web.get(page_url(second))
    assert progress_state(tenant_page) == "refused"
    assert "ServiceTitan refused the pairing: DuplicateAccount (15303)." in tenant_page.text
    assert 'id="pairing-advice">ServiceTitan already has this account paired' in tenant_page.text

    listed = runner.invoke(args=["pairings", "list"])
    assert "ServiceTitan refused: DuplicateAccount. ServiceTitan already has this account paired" in listed.output
    as_json = json.loads(runner.invoke(args=["pairings", "list", "--json"]).output)
    refusal = as_json[0]["servicetitanError"]
    assert (refusal["name"], refusal["code"]) == ("DuplicateAccount", 15303)
    assert refusal["advice"].startswith("ServiceTitan already has this account paired")
    assert as_json[1]["servicetitanError"] is None  # the first pairing was delivered
    assert as_json[1]["requestId"] == first

    admin_page = console.get("/admin/pairings").text
    assert "ServiceTitan refused it: DuplicateAccount (15303). ServiceTitan already has this account paired" in (
        admin_page
    )


def test_a_duplicate_answer_to_a_retry_after_an_unknown_outcome_counts_as_delivered(
    clean_app, sandbox, runner, frozen_clock
):
    web = clean_app.test_client()
    request_id = sandbox.state.create_request("custom").request_id
    page = sign_in(web, request_id)
    deliver(clean_app)  # PROCESSING
    decide(web, request_id, page)
    sandbox.state.inject(ACCOUNTS_PATH, "lose_response")
    deliver(clean_app)  # COMPLETED applied, its answer lost
    frozen_clock.advance(3600)
    deliver(clean_app)  # the retry: DuplicateRequestId proves the first landed

    assert progress_state(web.get(page_url(request_id))) == "completed"
    [listed] = json.loads(runner.invoke(args=["pairings", "list", "--json"]).output)
    assert (listed["status"], listed["servicetitanError"]) == ("COMPLETED", None)
