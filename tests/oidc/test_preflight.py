"""The go-live checklist: each check made to pass, then to fail, against a provider on a
real loopback socket and the offline sandbox playing ServiceTitan; the console page and
``flask servicetitan preflight`` (its exit status and its --json)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Client, ExtraDetailParameter, JobType, SigningKey
from oidc_provider.oidc import preflight
from oidc_provider.oidc.keys import create_key
from oidc_provider.servicetitan import outbox
from oidc_provider.servicetitan.catalog import webhook_keys
from tests.conftest import LiveServer

CHECKS = ["issuer", "signing_keys", "client", "leads_api", "webhooks", "catalog", "outbox", "custom_pairing"]


@pytest.fixture
def ready(fresh_signing_keys, make, st_sandbox, monkeypatch):
    """Everything ServiceTitan's sandbox needs, served at a loopback issuer."""
    app = fresh_signing_keys
    make.client(redirect_uris=["https://servicetitan.example/callback"])
    make.servicetitan(st_sandbox.url)
    with app.app_context():
        db.session.scalar(select(Client)).servicetitan_environment = "sandbox"
        webhook_keys.generate("test", "sandbox")
        db.session.add(JobType(category="HVAC", partner_key="hvac-repair", position=1))
        db.session.add(ExtraDetailParameter(key="campaign", key_folded="campaign", display_name="Campaign"))
        db.session.commit()
    monkeypatch.setitem(app.config, "SERVICETITAN_TIMEOUT", 5)
    with LiveServer(app) as server:
        monkeypatch.setitem(app.config, "ISSUER", server.url)
        yield app


def statuses(app, environment="sandbox") -> dict[str, str]:
    with app.app_context():
        return {check.id: check.status for check in preflight.run(environment)}


def only_problem(app, check_id: str) -> preflight.Check:
    with app.app_context():
        checks = preflight.run("sandbox")
    assert {c.id: c.status for c in checks} == {c: "problem" if c == check_id else "ok" for c in CHECKS}
    [check] = [c for c in checks if c.id == check_id]
    assert check.detail and check.todo
    return check


def test_everything_passes_when_everything_is_set(ready):
    assert statuses(ready) == dict.fromkeys(CHECKS, "ok")


def test_an_http_issuer_off_loopback_or_in_production_fails(ready, monkeypatch):
    monkeypatch.setitem(ready.config, "MODE", "production")
    assert "https" in only_problem(ready, "issuer").todo


def test_an_issuer_where_discovery_does_not_answer_fails(ready, monkeypatch, st_sandbox):
    monkeypatch.setitem(ready.config, "ISSUER", st_sandbox.url)  # a server, but not ours
    with ready.app_context():
        [check] = [c for c in preflight.run("sandbox") if c.id == "issuer"]
    assert check.status == "problem" and "answered HTTP 404" in check.detail

    monkeypatch.setitem(ready.config, "ISSUER", "http://127.0.0.1:9")
    with ready.app_context():
        [check] = [c for c in preflight.run("sandbox") if c.id == "issuer"]
    assert check.status == "problem" and "did not answer" in check.detail


def test_no_active_key_and_an_overdue_key_fail(ready):
    with ready.app_context():
        old = create_key("RS256", clock.now() - timedelta(days=100))
        for key in db.session.scalars(select(SigningKey).where(SigningKey.alg == "RS256", SigningKey.kid != old.kid)):
            key.retired_at = clock.now()
        db.session.commit()
        kid = old.kid
    assert kid in only_problem(ready, "signing_keys").detail
    with ready.app_context():
        db.session.get(SigningKey, kid).retired_at = clock.now()
        db.session.commit()
    assert "no active RS256 key" in only_problem(ready, "signing_keys").detail


def test_a_client_without_an_https_callback_url_fails(ready):
    with ready.app_context():
        client = db.session.scalar(select(Client))
        client.redirect_uris = ["http://servicetitan.example/callback"]
        db.session.commit()
    assert "https Callback URL" in only_problem(ready, "client").detail
    with ready.app_context():
        db.session.scalar(select(Client)).servicetitan_environment = "production"
        db.session.commit()
    assert "no enabled client for the sandbox" in only_problem(ready, "client").detail


def test_credentials_the_token_server_refuses_fail(ready, make, st_sandbox):
    make.servicetitan(st_sandbox.url, client_secret="not-the-secret")
    assert "connect/token" in only_problem(ready, "leads_api").detail


def test_no_webhook_key_fails(ready):
    with ready.app_context():
        for key in webhook_keys.valid_keys("sandbox"):
            key.retired_at = clock.now()
        db.session.commit()
    assert "no webhook signing key" in only_problem(ready, "webhooks").detail


def test_a_webhook_prefix_the_server_does_not_serve_fails(ready, monkeypatch):
    monkeypatch.setitem(ready.config, "WEBHOOK_PREFIX", "/elsewhere")
    assert "HTTP 404" in only_problem(ready, "webhooks").detail


def test_missing_job_types_or_extra_details_fail(ready):
    with ready.app_context():
        db.session.execute(ExtraDetailParameter.__table__.delete())
        db.session.commit()
    assert "no extra detail" in only_problem(ready, "catalog").detail


def test_a_failed_outbox_message_fails(ready):
    with ready.app_context():
        message = outbox.enqueue_account_status("sandbox", "req-1", "DECLINED")
        message.state = outbox.FAILED
        db.session.commit()
    assert "1 message(s)" in only_problem(ready, "outbox").detail
    assert statuses(ready, "production")["outbox"] == "ok"


def test_a_pairing_url_the_server_does_not_serve_fails(ready, monkeypatch):
    monkeypatch.setitem(ready.config, "CUSTOM_PAIRING_PATH", "/not/served")
    assert "HTTP 404" in only_problem(ready, "custom_pairing").detail
    monkeypatch.setitem(ready.config, "SERVICETITAN_ENVIRONMENT", "production")
    assert statuses(ready)["custom_pairing"] == "ok"  # Custom pairings report elsewhere


def test_the_command_exits_non_zero_on_a_problem_and_prints_json(ready):
    runner = ready.test_cli_runner()

    passed = runner.invoke(args=["servicetitan", "preflight", "sandbox", "--json"])
    assert passed.exit_code == 0, passed.output
    data = json.loads(passed.stdout)
    assert data["ok"] is True and data["environment"] == "sandbox"
    assert [c["id"] for c in data["checks"]] == CHECKS
    assert set(data["checks"][0]) == {"id", "title", "status", "detail", "todo"}

    with ready.app_context():
        db.session.execute(JobType.__table__.delete())
        db.session.commit()
    failed = runner.invoke(args=["servicetitan", "preflight", "sandbox"])
    assert failed.exit_code == 1
    assert "sandbox: NOT ready" in failed.output and "[problem] Job types" in failed.output
    assert "what to do:" in failed.output


def test_the_console_page_shows_each_check(ready, console):
    page = console.get("/admin/go-live/sandbox")
    assert page.status_code == 200
    assert "Ready: every check passed." in page.text
    assert page.text.count('<span class="badge ok">OK</span>') == len(CHECKS)
    assert console.get("/admin/go-live/staging").status_code == 404
