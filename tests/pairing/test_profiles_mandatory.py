"""Profiles are mandatory (ServiceTitan's document): an account without profiles is shown on
the consent and Custom pairing pages but cannot be chosen, with the reason; when it is the
tenant's only account, going on tells ServiceTitan DECLINED; ``directory import`` warns."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AccessToken, Account, OutboxMessage, Pairing
from tests.factories import password_hash
from tests.pairing.test_custom import decide, deliver, sign_in, statuses_sent

EMPTY = {"id": "acct-empty", "name": "Empty Branch", "profiles": []}
REASON = "no profiles: it cannot be paired until your administrator adds one"


@pytest.fixture
def directory(make):
    """The standard directory, plus an account without profiles that the manager and a
    user of its own ("empty@") may pair."""
    hashed = password_hash()
    return make.directory(
        accounts=[
            {"id": "acct-hvac", "name": "MTech HVAC", "profiles": [{"id": "p-north", "name": "North"}]},
            {"id": "acct-plumbing", "name": "MTech Plumbing", "profiles": [{"id": "p-main", "name": "Main"}]},
            EMPTY,
        ],
        users=[
            {"email": "manager@mtech.example", "password_hash": hashed, "accounts": ["acct-hvac", "acct-empty"]},
            {"email": "empty@mtech.example", "password_hash": hashed, "accounts": ["acct-empty"]},
        ],
    )


@pytest.fixture
def client(make, directory):
    return make.client()


def consent(flows, client, email):
    response = flows.authorize(client)
    response = flows.sign_in(response, email=email)
    assert 'action="/authorize/decision"' in response.text, response.text
    return response


def test_the_consent_page_shows_the_account_but_it_cannot_be_chosen(flows, client, make):
    page = consent(flows, client, "manager@mtech.example")

    assert 'value="acct-empty" disabled' in page.text
    assert 'name="account_id" value="acct-empty"' not in page.text
    assert REASON in page.text
    assert 'value="acct-hvac" checked' in page.text  # the pairable one is preselected

    refused = flows.decide(page, account_id="acct-empty")
    assert refused.status_code == 200
    assert "Choose one of your accounts." in refused.text
    assert make.count(AccessToken) == 0


def test_the_only_account_without_profiles_tells_servicetitan_declined(flows, client, clean_app):
    page = consent(flows, client, "empty@mtech.example")
    assert "None of your accounts can be paired" in page.text
    assert "Continue: the pairing is declined" in page.text
    assert ">Allow<" not in page.text

    code = flows.authorization_result(flows.decide(page))["code"]
    tokens = flows.exchange(client, code).json
    assert flows.account_info(tokens["access_token"]).json == {"Status": "DECLINED", "RequestId": "req-1"}
    with clean_app.app_context():
        assert db.session.scalar(select(Pairing.status)) == "DECLINED"


def test_an_admins_approval_of_an_account_without_profiles_declines(flows, make, directory, clean_app):
    from oidc_provider.pairing.lifecycle import decide as decide_pairing

    async_client = make.client(async_pairing=True)
    page = consent(flows, async_client, "manager@mtech.example")
    flows.exchange(async_client, flows.authorization_result(flows.decide(page, account_id="acct-hvac"))["code"])
    with clean_app.app_context():
        # The account lost its profiles while the pairing waited for the admin.
        db.session.get(Account, "acct-hvac").profiles = []
        db.session.commit()
        pairing = db.session.scalar(select(Pairing))
        assert decide_pairing(pairing, True, "admin@partner.example").status == "DECLINED"


@pytest.fixture
def sandbox(make, directory, st_sandbox):
    make.servicetitan(st_sandbox.url)
    return st_sandbox


def test_the_custom_pairing_page_shows_why_and_refuses_the_choice(web, clean_app, sandbox, make, frozen_clock):
    request_id = sandbox.state.create_request("custom").request_id
    page = sign_in(web, request_id, "manager@mtech.example")
    assert 'value="acct-empty" disabled' in page.text
    assert REASON in page.text

    refused = decide(web, request_id, page, "allow", "acct-empty")

    assert refused.status_code == 400
    assert "Choose one of your accounts." in refused.text
    with clean_app.app_context():
        assert db.session.scalar(select(Pairing.status)) == "PROCESSING"
        assert [m.payload["status"] for m in db.session.scalars(select(OutboxMessage))] == ["PROCESSING"]


def test_custom_pairing_of_a_tenant_with_only_an_account_without_profiles_is_declined(
    web, clean_app, sandbox, frozen_clock
):
    request_id = sandbox.state.create_request("custom").request_id
    page = sign_in(web, request_id, "empty@mtech.example")
    assert "None of your accounts can be paired" in page.text

    decide(web, request_id, page)  # the only way on
    deliver(clean_app)

    assert statuses_sent(sandbox) == [
        {"requestId": request_id, "status": "PROCESSING"},
        {"requestId": request_id, "status": "DECLINED"},
    ]


def test_directory_import_warns_about_accounts_without_profiles_and_imports_them(runner, clean_app, tmp_path):
    path = tmp_path / "directory.json"
    path.write_text(
        json.dumps({"accounts": [EMPTY, {"id": "acct-1", "name": "One", "profiles": [{"id": "p-1", "name": "P"}]}]})
    )

    shown = runner.invoke(args=["directory", "import", str(path)])
    as_json = json.loads(runner.invoke(args=["directory", "import", str(path), "--json"]).stdout)

    assert shown.exit_code == 0, shown.output
    assert "warning: accounts[0].profiles: account 'acct-empty' has no profiles" in shown.stderr
    assert "imported 2 accounts, 1 profiles" in shown.stdout
    assert as_json["warnings"] == [
        {
            "where": "accounts[0].profiles",
            "message": "account 'acct-empty' has no profiles: it cannot be paired (ServiceTitan requires at least "
            "one) until it has one",
        }
    ]
    with clean_app.app_context():
        assert db.session.get(Account, "acct-empty") is not None
