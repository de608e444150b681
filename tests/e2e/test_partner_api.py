"""The partner API end to end: the product under gunicorn in production mode on PostgreSQL,
its outbox sending to the offline ServiceTitan sandbox, and the partner's booking platform
as a separate program that imports nothing from the product (``partner_platform.py``). The
partner's push receiver checks each signature with the independent ``standardwebhooks``."""

from __future__ import annotations

import ast
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from flask import Flask, request
from standardwebhooks import Webhook

from oidc_provider.core.extensions import db
from oidc_provider.core.models import ExtraDetailParameter, JobType
from oidc_provider.servicetitan.catalog.webhook_keys import paste
from st_sandbox import create_app as create_sandbox
from tests.conftest import ENCRYPTION_KEY, LiveServer, build_app, unavailable
from tests.e2e.test_multi_instance import redis_reachable
from tests.factories import Factories
from tests.flows import Flows
from tests.gunicorn_server import Gunicorn, free_port, production_environment
from tests.servicetitan.test_bookings import document

PLATFORM = Path(__file__).with_name("partner_platform.py")
WEBHOOK_KEY = "st-e2e-webhook-key"
ACCOUNT = {"id": "acct-hvac", "name": "MTech HVAC", "profiles": [{"id": "p-north", "name": "North"}]}
PUSH_SECRET = "whsec_" + base64.b64encode(b"e2e-partner-push-secret-0123456").decode()


def push_receiver() -> Flask:
    """The partner's endpoint for pushed events: keeps what arrives, verified or not."""
    receiver = Flask("partner-push")
    receiver.received = []

    @receiver.post("/events")
    def receive():
        receiver.received.append({"body": request.get_data(), "headers": dict(request.headers)})
        return "", 204

    return receiver


@pytest.fixture(scope="module")
def deployment(new_postgres_database, tmp_path_factory):
    """The product under gunicorn, paired with acct-hvac in the sandbox environment, an API
    client for the platform, and the sandbox that takes its bookings and sends webhooks."""
    if not redis_reachable():
        unavailable("Redis is not reachable at 127.0.0.1:6379 (production keeps rate limit counts there)")
    folder = tmp_path_factory.mktemp("partner-api")
    url = new_postgres_database("partner_api")
    app = build_app(url, folder, SERVICETITAN_ENVIRONMENT="sandbox")
    make = Factories(app)
    make.directory()
    Flows(app.test_client()).tokens(make.client(account_info_claim=True))
    with app.app_context():
        db.session.add_all(
            [
                JobType(category="Plumbing", partner_key="partner_job_type_1", position=1),
                ExtraDetailParameter(key="gate_code", key_folded="gate_code", display_name="Gate code"),
            ]
        )
        paste(WEBHOOK_KEY, "e2e", "sandbox")  # the sandbox environment's key
        db.session.commit()
    created = app.test_cli_runner().invoke(
        args=[
            "api-clients",
            "create",
            "--name",
            "Booking platform",
            "--scope",
            "bookings:write bookings:read events:read",
            "--json",
        ]
    )
    client = json.loads(created.output)
    port = free_port()
    sandbox_app = create_sandbox(
        {
            # The sandbox environment's receivers: the bookings go to that environment.
            "ST_SANDBOX_WEBHOOK_PREFIX": f"http://127.0.0.1:{port}/servicetitan/webhooks/sandbox",
            "ST_SANDBOX_WEBHOOK_KEY": WEBHOOK_KEY,
        }
    )
    sandbox_app.extensions["st_sandbox"]["state"].pair_account(ACCOUNT)
    receiver = push_receiver()
    env = production_environment(
        url,
        "http://127.0.0.1",
        "partner-api-secret-key",
        ENCRYPTION_KEY,
        SERVICETITAN_ENVIRONMENT="sandbox",
        OUTBOX_IN_PROCESS="true",
        OUTBOX_POLL_INTERVAL="0.2",
    )
    with LiveServer(sandbox_app) as sandbox, LiveServer(receiver) as pushes:
        env["OIDC_PROVIDER_WEBHOOK_FORWARD_URL"] = pushes.url + "/events"
        env["OIDC_PROVIDER_WEBHOOK_FORWARD_SECRET"] = PUSH_SECRET
        make.servicetitan(sandbox.url, environment="sandbox")
        with Gunicorn(env, folder / "gunicorn.log", workers=1, port=port) as product:
            platform_env = {
                "PATH": os.environ["PATH"],
                "ISSUER": product.url,
                "CLIENT_ID": client["client_id"],
                "CLIENT_SECRET": client["client_secret"],
            }
            yield type(
                "Deployment",
                (),
                {"product": product, "sandbox": sandbox, "platform_env": platform_env, "pushed": receiver.received},
            )


def platform(deployment, *arguments, cwd) -> dict:
    result = subprocess.run(
        [sys.executable, str(PLATFORM), *arguments],
        cwd=cwd,
        env=deployment.platform_env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr + result.stdout + deployment.product.log()
    return json.loads(result.stdout)


def test_the_platform_imports_nothing_from_the_product():
    tree = ast.parse(PLATFORM.read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names) | {"requests"}, imported


def test_a_booking_from_the_platform_is_delivered_once_and_followed(deployment, tmp_path):
    booking = document(1)
    del booking["idempotencyToken"]
    (tmp_path / "booking.json").write_text(json.dumps(booking))

    delivered = platform(deployment, "book", "booking.json", cwd=tmp_path)
    assert (delivered["state"], delivered["environment"], delivered["attempts"]) == ("delivered", "sandbox", 1)

    sandbox_state = requests.get(deployment.sandbox.url + "/_sandbox/state", timeout=10).json()
    sent = [a["body"] for a in sandbox_state["applied"] if a["path"] == "/api/integrations/bookings"]
    assert len(sent) == 1
    assert sent[0]["partnerBookingId"] == "booking-1"
    assert sent[0]["idempotencyToken"] == delivered["idempotencyToken"]

    webhook = requests.post(
        deployment.sandbox.url + "/_sandbox/webhooks/leads/accepted", json={"partnerBookingId": "booking-1"}, timeout=10
    ).json()
    assert webhook["status"] == 200
    followed = platform(deployment, "timeline", "booking-1", "Accepted", cwd=tmp_path)
    assert followed["timeline"] == [
        {
            "status": "Accepted",
            "timestamp": webhook["body"]["timestamp"],
            "statusUpdateId": webhook["body"]["statusUpdateId"],
            "eventData": webhook["body"]["eventData"],
        }
    ]

    # The feed, read page by page by the platform, and the pushes: the same events, each push
    # signed with the partner's secret. The pairing was made while setting up, before the
    # product ran with a push URL: it is in the feed only.
    feed = platform(deployment, "events", cwd=tmp_path)["items"]
    assert [(event["type"], event["data"].get("partnerBookingId")) for event in feed] == [
        ("pairing.completed", None),
        ("booking.delivered", "booking-1"),
        ("lead.updated", "booking-1"),
    ]
    verifier = Webhook(PUSH_SECRET)
    deadline = time.monotonic() + 30
    while len(deployment.pushed) < len(feed) - 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    pushed = [verifier.verify(push["body"], push["headers"]) for push in deployment.pushed]
    assert sorted(pushed, key=lambda event: int(event["id"])) == feed[1:]
    assert [push["headers"]["Webhook-Id"] for push in deployment.pushed] == [event["id"] for event in pushed]


def test_a_refused_booking_is_refused_over_http_and_nothing_reaches_servicetitan(deployment, tmp_path):
    booking = document(2, slot={**document()["slot"], "profileId": "p-main"})
    (tmp_path / "booking.json").write_text(json.dumps(booking))
    result = subprocess.run(
        [sys.executable, str(PLATFORM), "book", "booking.json"],
        cwd=tmp_path,
        env=deployment.platform_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "refused: 422" in result.stderr and "slot.profileId" in result.stderr
    sandbox_state = requests.get(deployment.sandbox.url + "/_sandbox/state", timeout=10).json()
    assert "booking-2" not in [a["body"].get("partnerBookingId") for a in sandbox_state["applied"]]
