"""flask purge: expired codes, old tokens, expired consents and old events go; pairings stay."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AccessToken, AuthorizationCode, Consent, Pairing
from oidc_provider.servicetitan.events import page, record


@pytest.fixture
def retention(clean_app, monkeypatch) -> int:
    """A retention shorter than the access token's life, so that a revoked token can go
    before it expires."""
    monkeypatch.setitem(clean_app.config, "PURGE_RETENTION", 60)
    return 60


def purge(runner) -> dict:
    result = runner.invoke(args=["purge", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_purge_deletes_each_kind_when_its_time_has_come(clean_app, make, flows, runner, frozen_clock, retention):
    make.directory()
    client = make.client()
    kept = flows.tokens(client)
    reused_code = flows.code(client)
    assert flows.exchange(client, reused_code).status_code == 200
    assert flows.exchange(client, reused_code).status_code == 400  # reuse: its token is revoked
    flows.code(client)  # never exchanged

    assert purge(runner) == {"authorization_codes": 0, "access_tokens": 0, "consents": 0, "events": 0}

    frozen_clock.advance(61)  # every code has expired; the revoked token is past retention
    assert purge(runner) == {"authorization_codes": 3, "access_tokens": 1, "consents": 0, "events": 0}

    frozen_clock.advance(3600)  # the other token expired more than the retention ago
    assert purge(runner) == {"authorization_codes": 0, "access_tokens": 1, "consents": 0, "events": 0}

    frozen_clock.advance(clean_app.config["CONSENT_LIFETIME"])  # a year: the pairings' events are past retention too
    # The events of 2 pairings and of the first one's ending, superseded by the second.
    assert purge(runner) == {"authorization_codes": 0, "access_tokens": 0, "consents": 1, "events": 3}

    assert make.count(AuthorizationCode) == make.count(AccessToken) == make.count(Consent) == 0
    with clean_app.app_context():
        pairings = db.session.scalars(select(Pairing)).all()
    assert len(pairings) == 2 and all(p.access_token_id is None for p in pairings)
    assert kept["access_token"]


def test_purge_keeps_an_expired_token_within_the_retention(clean_app, make, flows, runner, frozen_clock, retention):
    make.directory()
    client = make.client()
    tokens = flows.tokens(client)

    frozen_clock.advance(3600 + 30)

    assert purge(runner)["access_tokens"] == 0
    assert make.count(AccessToken) == 1
    assert flows.account_info(tokens["access_token"]).status_code == 401  # expired all the same


def test_a_live_code_and_token_survive_a_purge_and_still_work(make, flows, runner):
    make.directory()
    client = make.client()
    code = flows.code(client)
    tokens = flows.tokens(client)

    assert purge(runner) == {"authorization_codes": 0, "access_tokens": 0, "consents": 0, "events": 0}
    assert flows.account_info(tokens["access_token"]).json["Status"] == "COMPLETED"
    # Exchanged last: its pairing of the same account supersedes the one above.
    assert flows.exchange(client, code).status_code == 200


def test_purge_reports_in_words_without_json(runner):
    result = runner.invoke(args=["purge"])

    assert result.exit_code == 0
    assert result.output.strip() == "deleted 0 authorization codes, 0 access tokens, 0 consents, 0 events"


def test_events_are_kept_for_their_retention_then_purged(clean_app, runner, frozen_clock, monkeypatch):
    monkeypatch.setitem(clean_app.config, "EVENT_RETENTION", 3600)
    with clean_app.app_context():
        record("webhook.flagged", {"deliveryId": 1})
        db.session.commit()
    frozen_clock.advance(1800)
    with clean_app.app_context():
        record("webhook.flagged", {"deliveryId": 2})
        db.session.commit()
    frozen_clock.advance(1800)  # the first is exactly as old as the retention
    assert purge(runner)["events"] == 1
    with clean_app.app_context():
        assert [e["data"] for e in page(None, 10)[0]] == [{"deliveryId": 2}]
