"""Custom pairing ("ST Pairing"): ServiceTitan opens our page with a requestId, the tenant
signs in and picks an account, and the page shows ServiceTitan's real answers until the
pairing is final. The calls go through the outbox to the sandbox on loopback."""

from __future__ import annotations

import random
import re
from urllib.parse import quote

import pytest
from sqlalchemy import select

from oidc_provider import create_app
from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent, OutboxMessage, Pairing
from oidc_provider.servicetitan.leads_api import ACCOUNTS_PATH
from oidc_provider.servicetitan.outbox import OutboxWorker
from tests.conftest import ENCRYPTION_KEY
from tests.factories import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HVAC = {
    "id": "acct-hvac",
    "name": "MTech HVAC",
    "profiles": [{"id": "p-north", "name": "North"}, {"id": "p-south", "name": "South"}],
}


@pytest.fixture
def sandbox(make, st_sandbox):
    make.directory()
    make.servicetitan(st_sandbox.url)
    return st_sandbox


def page_url(request_id: str) -> str:
    return "/st/pair?requestId=" + quote(request_id)


def sign_in(web, request_id: str, email: str = "owner@mtech.example"):
    """Open the pairing link signed out, sign in, and follow the way back."""
    first = web.get(page_url(request_id))
    assert first.status_code == 302
    assert first.headers["Location"] == "/login?next=" + quote(page_url(request_id), safe="/?")
    login = web.get(first.headers["Location"])
    answer = web.post(
        "/login",
        data={
            "csrf_token": CSRF.search(login.text).group(1),
            "email": email,
            "password": PASSWORD,
            "next": page_url(request_id),
        },
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == page_url(request_id)
    return web.get(answer.headers["Location"])


def decide(web, request_id: str, page, decision: str = "allow", account_id: str | None = None):
    fields = {"csrf_token": CSRF.search(page.text).group(1), "decision": decision}
    hidden = re.search(r'<input type="hidden" name="account_id" value="([^"]+)">', page.text)
    account_id = account_id or (hidden.group(1) if hidden else None)  # a one-account user's choice
    if account_id:
        fields["account_id"] = account_id
    return web.post(page_url(request_id), data=fields)


def deliver(app) -> int:
    return OutboxWorker(app, rng=random.Random(1)).run_once()


def progress_state(page) -> str:
    return re.search(r'id="pairing-progress" data-state="([a-z]+)"', page.text).group(1)


def statuses_sent(sandbox) -> list[dict]:
    return [a.body for a in sandbox.state.applied if a.path == ACCOUNTS_PATH]


def test_allow_reports_processing_then_completed_and_the_page_follows(web, clean_app, sandbox, make, frozen_clock):
    request_id = sandbox.state.create_request("custom").request_id
    choice = sign_in(web, request_id)
    assert choice.status_code == 200
    assert "ServiceTitan wants to pair with your account" in choice.text
    assert "MTech HVAC" in choice.text
    # The document's recommended sequence: PROCESSING as soon as the tenant opens the page.
    assert deliver(clean_app) == 1
    assert statuses_sent(sandbox) == [{"requestId": request_id, "status": "PROCESSING"}]
    assert sandbox.state.requests[request_id].status == "PROCESSING"
    with clean_app.app_context():
        opened = db.session.scalar(select(Pairing))
        assert (opened.mechanism, opened.status, opened.account_id) == ("custom", "PROCESSING", None)
    assert web.get(page_url(request_id)).status_code == 200  # opening again reports nothing more
    assert make.count(OutboxMessage) == 1

    answered = decide(web, request_id, choice)
    assert answered.status_code == 303
    assert answered.headers["Location"] == page_url(request_id)

    waiting = web.get(page_url(request_id))
    assert progress_state(waiting) == "sending"
    assert waiting.headers["Refresh"] == "2"
    assert waiting.headers["Cache-Control"] == "no-store"
    assert deliver(clean_app) == 1

    done = web.get(page_url(request_id))
    assert progress_state(done) == "completed"
    assert "Refresh" not in done.headers
    assert "<strong>MTech HVAC</strong> is paired with ServiceTitan." in done.text
    assert statuses_sent(sandbox) == [
        {"requestId": request_id, "status": "PROCESSING"},
        {"requestId": request_id, "status": "COMPLETED", "account": HVAC},
    ]
    with clean_app.app_context():
        row = db.session.scalar(select(Pairing))
        assert (row.request_id, row.account_id, row.status, row.environment) == (
            request_id,
            "acct-hvac",
            "COMPLETED",
            "sandbox",
        )
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "custom_pairing_completed"))
        assert (event.actor, event.detail["request_id"]) == ("owner@mtech.example", request_id)


@pytest.mark.parametrize(
    ("email", "decision", "account_id"),
    [
        ("owner@mtech.example", "deny", None),
        ("manager@mtech.example", "allow", "acct-closed"),  # not eligible
        ("nobody@mtech.example", "deny", None),  # no account to pair
    ],
)
def test_a_decline_reports_declined(web, clean_app, sandbox, frozen_clock, email, decision, account_id):
    request_id = sandbox.state.create_request("custom").request_id
    choice = sign_in(web, request_id, email)
    decide(web, request_id, choice, decision, account_id)
    deliver(clean_app)

    done = web.get(page_url(request_id))
    assert progress_state(done) == "declined"
    assert statuses_sent(sandbox) == [
        {"requestId": request_id, "status": "PROCESSING"},
        {"requestId": request_id, "status": "DECLINED"},
    ]
    assert sandbox.state.requests[request_id].status == "DECLINED"


def test_a_manager_chooses_among_several_accounts(web, clean_app, sandbox, frozen_clock):
    request_id = sandbox.state.create_request("custom").request_id
    choice = sign_in(web, request_id, "manager@mtech.example")
    radios = re.findall(r'name="account_id" value="([^"]+)"', choice.text)
    assert radios == ["acct-closed", "acct-hvac", "acct-plumbing"]  # by name

    refused = decide(web, request_id, choice, "allow", "acct-not-mine")
    assert refused.status_code == 400 and "Choose one of your accounts." in refused.text
    decide(web, request_id, choice, "allow", "acct-plumbing")
    deliver(clean_app)

    assert statuses_sent(sandbox)[-1]["account"] == {
        "id": "acct-plumbing",
        "name": "MTech Plumbing",
        "profiles": [{"id": "p-main", "name": "Main"}],
    }


def test_the_page_shows_servicetitans_refusal(web, clean_app, sandbox, frozen_clock):
    choice = sign_in(web, "never-issued-by-servicetitan")
    decide(web, "never-issued-by-servicetitan", choice)
    deliver(clean_app)

    refused = web.get(page_url("never-issued-by-servicetitan"))
    assert progress_state(refused) == "refused"
    assert "ServiceTitan refused the pairing: RequestIdNotFound (15202)." in refused.text
    assert "An account with a specified requestId does not exist." in refused.text
    assert "Refresh" not in refused.headers
    assert sandbox.state.applied == []


def test_the_page_says_when_servicetitan_is_not_answering(web, clean_app, sandbox, frozen_clock):
    request_id = sandbox.state.create_request("custom").request_id
    sandbox.state.inject(ACCOUNTS_PATH, "error", status=503)
    decide(web, request_id, sign_in(web, request_id))
    deliver(clean_app)

    retrying = web.get(page_url(request_id))
    assert progress_state(retrying) == "retrying"
    assert "ServiceTitan is not answering right now; we keep trying." in retrying.text
    assert retrying.headers["Refresh"] == "2"
    frozen_clock.advance(3600)
    deliver(clean_app)
    assert progress_state(web.get(page_url(request_id))) == "completed"


def test_a_request_id_belongs_to_the_first_tenant_who_opens_it_and_is_answered_once(
    clean_app, sandbox, make, frozen_clock
):
    request_id = sandbox.state.create_request("custom").request_id
    owner, manager = clean_app.test_client(), clean_app.test_client()
    choice = sign_in(owner, request_id)

    late = sign_in(manager, request_id, "manager@mtech.example")
    assert late.status_code == 409
    assert "This pairing link was already used." in late.text
    decide(owner, request_id, choice)
    again = decide(owner, request_id, choice, "deny")  # the owner's second answer only shows the first
    assert progress_state(again) == "sending"
    assert make.count(Pairing) == 1
    assert make.count(OutboxMessage) == 2  # PROCESSING, COMPLETED


def test_an_answer_from_another_tenant_changes_nothing(clean_app, sandbox, make, frozen_clock):
    request_id = sandbox.state.create_request("custom").request_id
    owner, manager = clean_app.test_client(), clean_app.test_client()
    sign_in(owner, request_id)
    manager_page = sign_in(manager, "another-request", "manager@mtech.example")

    forged = decide(manager, request_id, manager_page, "allow", "acct-plumbing")

    assert forged.status_code == 409
    with clean_app.app_context():
        pairing = db.session.scalar(select(Pairing).where(Pairing.request_id == request_id))
        assert (pairing.status, pairing.account_id) == ("PROCESSING", None)
    assert make.count(OutboxMessage) == 2  # the two PROCESSING reports only


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "This pairing link has no requestId."),
        ("?requestId=", "This pairing link has no requestId."),
        ("?requestId=" + "r" * 129, "longer than 128 characters"),
    ],
)
def test_an_unusable_request_id_is_refused(web, query, message):
    answer = web.get("/st/pair" + query)
    assert answer.status_code == 400
    assert message in answer.text


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)"]
)
def test_sign_in_returns_only_to_a_page_of_ours(web, make, target):
    make.directory()
    login = web.get("/login")
    answer = web.post(
        "/login",
        data={
            "csrf_token": CSRF.search(login.text).group(1),
            "email": "owner@mtech.example",
            "password": PASSWORD,
            "next": target,
        },
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"


def test_the_page_path_is_a_setting(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}",
            "SECRET_KEY": "k",
            "ENCRYPTION_KEYS": [ENCRYPTION_KEY],
            "CUSTOM_PAIRING_PATH": "/partner/pair",
        }
    )
    rules = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    assert rules["/partner/pair"] == "custom_pairing.page"
    assert "/st/pair" not in rules
