"""Metrics for the back office: outbox sends by kind and outcome, the age of the oldest
message still to deliver, and webhook deliveries by topic and state, as /metrics shows them."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from oidc_provider.core.extensions import db
from oidc_provider.servicetitan.catalog.webhook_keys import paste
from oidc_provider.servicetitan.leads_api import ACCOUNTS_PATH
from oidc_provider.servicetitan.outbox import OutboxWorker, enqueue_account_status

KEY = "st-generated-key-0001"
PREFIX = "/servicetitan/webhooks"


def sample(web, name: str, **labels) -> float:
    text = web.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return 0.0


def queue_processing(app, sandbox, request_id: str) -> None:
    sandbox.state.create_request("custom", request_id)
    with app.app_context():
        enqueue_account_status("sandbox", request_id, "PROCESSING")
        db.session.commit()


def send_due(app) -> None:
    OutboxWorker(app, name="metrics", rng=random.Random(1)).run_once()


@pytest.fixture
def sandbox(make, st_sandbox):
    make.servicetitan(st_sandbox.url)
    return st_sandbox


def test_outbox_sends_are_counted_by_kind_and_outcome(clean_app, web, sandbox, frozen_clock):
    name = "oidc_provider_outbox_sends_total"
    before = {o: sample(web, name, kind="account_status", outcome=o) for o in ("delivered", "retry", "failed")}
    queue_processing(clean_app, sandbox, "req-delivered")
    send_due(clean_app)
    sandbox.state.inject(ACCOUNTS_PATH, "error", status=503)
    queue_processing(clean_app, sandbox, "req-retried")
    send_due(clean_app)
    sandbox.state.inject(ACCOUNTS_PATH, "error", status=400)
    frozen_clock.advance(3600)  # the retry is due; ServiceTitan now refuses it
    send_due(clean_app)

    after = {o: sample(web, name, kind="account_status", outcome=o) for o in ("delivered", "retry", "failed")}
    assert {o: after[o] - before[o] for o in after} == {"delivered": 1, "retry": 1, "failed": 1}


def test_the_oldest_waiting_message_has_an_age(clean_app, web, sandbox, frozen_clock):
    name = "oidc_provider_outbox_oldest_pending_age_seconds"
    assert sample(web, name) == 0
    sandbox.state.inject(ACCOUNTS_PATH, "error", status=503, times=None)
    queue_processing(clean_app, sandbox, "req-old")
    frozen_clock.advance(30)
    queue_processing(clean_app, sandbox, "req-new")
    frozen_clock.advance(60)

    assert sample(web, name) == 90
    send_due(clean_app)  # refused for now: both wait for a retry, still pending
    assert sample(web, name) == 90
    sandbox.state.clear_faults()
    frozen_clock.advance(3600)
    send_due(clean_app)
    assert sample(web, name) == 0


def test_webhook_deliveries_are_counted_by_topic_and_state(clean_app, web):
    with clean_app.app_context():
        paste(KEY, "test")
    name = "oidc_provider_webhook_deliveries_total"
    topics = {("accounts", "stored"), ("leads/accepted", "not_json"), ("leads/accepted", "invalid")}
    before = {(t, s): sample(web, name, topic=t, state=s) for t, s in topics}

    headers = {clean_app.config["WEBHOOK_HEADER"]: KEY}
    assert web.post(PREFIX + "/accounts", json={"id": 1}, headers=headers).status_code == 200
    web.post(PREFIX + "/leads/accepted", data=b"not json", headers=headers, content_type="application/json")
    web.post(PREFIX + "/leads/accepted", json={"status": "Accepted"}, headers=headers)

    after = {(t, s): sample(web, name, topic=t, state=s) for t, s in topics}
    assert {k: after[k] - before[k] for k in after} == dict.fromkeys(topics, 1)


def test_the_production_guide_documents_every_metric_and_alerts_on_real_ones(clean_app, web):
    guide = (Path(__file__).resolve().parents[2] / "docs" / "production.md").read_text()
    exposed = {
        family.name
        for family in text_string_to_metric_families(web.get("/metrics").text)
        if family.name.startswith("oidc_provider_") and not family.name.endswith("_created")
    }
    documented = set(re.findall(r"^\| `(oidc_provider_\w+)`", guide, re.MULTILINE))
    # prometheus_client names a counter's family without its _total suffix.
    assert {name.removesuffix("_total") for name in documented} == exposed
    rules = guide[guide.index("```yaml") : guide.index("```", guide.index("```yaml") + 3)]
    expressions = re.findall(r"expr: (.+)", rules)
    assert len(expressions) == rules.count("- alert:") >= 4
    for expression in expressions:
        for name in re.findall(r"oidc_provider_\w+", expression):
            assert name in documented, expression
