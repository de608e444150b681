"""docs/partner-api.md, run as a partner would: its command creates the API client, its curl
examples run verbatim in bash against the provider on a loopback port, and its Python
client books a lead that the outbox delivers to the ServiceTitan sandbox."""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from oidc_provider.core.extensions import db
from oidc_provider.core.models import ExtraDetailParameter, JobType
from oidc_provider.servicetitan.outbox import OutboxWorker
from tests.conftest import _empty_tables
from tests.factories import Factories
from tests.flows import Flows

DOC = Path(__file__).parents[3] / "docs" / "partner-api.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


@pytest.fixture
def partner(postgres_app, provider, tmp_path):
    """The directory, acct-hvac paired, the job types the example names, and the API client
    made by the documented command; answers the environment the examples expect."""
    _empty_tables(postgres_app)
    make = Factories(postgres_app)
    make.directory()
    Flows(postgres_app.test_client()).tokens(make.client(account_info_claim=True))
    with postgres_app.app_context():
        db.session.add_all(
            [
                JobType(category="Plumbing", partner_key="partner_job_type_1", position=1),
                ExtraDetailParameter(key="gate_code", key_folded="gate_code", display_name="Gate code"),
            ]
        )
        db.session.commit()
    [command] = blocks("console")
    arguments = shlex.split(command)
    assert arguments[:3] == ["flask", "--app", "oidc_provider"]
    # Inside the app's own context: Flask's CLI runs on whatever app is current, and an app
    # context left open elsewhere in the session must not send the command to another database.
    with postgres_app.app_context():
        created = postgres_app.test_cli_runner().invoke(args=arguments[3:])
    assert created.exit_code == 0, created.output
    client = json.loads(created.output)
    (tmp_path / "booking.json").write_text(blocks("json")[0])
    return {
        "PATH": os.environ["PATH"],
        "ISSUER": provider.url,
        "CLIENT_ID": client["client_id"],
        "CLIENT_SECRET": client["client_secret"],
    }


def test_the_curl_examples_run_verbatim(partner, tmp_path):
    script = "set -euo pipefail\n" + "\n".join(f"{block}\necho" for block in blocks("sh"))
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=partner, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    posted, polled, listed, feed, pairings, unpaired = (
        json.loads(line) for line in result.stdout.split("\n") if line.strip()
    )
    assert (posted["partnerBookingId"], posted["state"], posted["environment"]) == ("booking-1001", "queued", "sandbox")
    assert polled == posted
    assert [item["partnerBookingId"] for item in listed["items"]] == ["booking-1001"]
    # The pairing made while setting up; the booking is still queued, so no outcome yet.
    assert [(event["type"], event["data"]["accountId"]) for event in feed["items"]] == [
        ("pairing.completed", "acct-hvac")
    ]
    [pairing] = pairings["items"]
    assert (pairing["mechanism"], pairing["status"], pairing["account"]["id"]) == ("openid", "COMPLETED", "acct-hvac")
    assert (unpaired["id"], unpaired["status"], unpaired["unpairedBy"]) == (
        pairing["id"],
        "UNPAIRED",
        "api-client:Booking platform",
    )


def test_the_python_client_books_and_polls_until_delivered(partner, postgres_app, st_sandbox, tmp_path):
    Factories(postgres_app).servicetitan(st_sandbox.url)
    st_sandbox.state.pair_account(
        {"id": "acct-hvac", "name": "MTech HVAC", "profiles": [{"id": "p-north", "name": "North"}]}
    )
    program = blocks("python")[0] + ("\nimport json, sys\nprint(json.dumps(book(json.load(open('booking.json')))))\n")
    stop, wakeup = threading.Event(), threading.Event()
    postgres_app.config["OUTBOX_POLL_INTERVAL"] = 0.2
    worker = threading.Thread(
        target=OutboxWorker(postgres_app, rng=random.Random(1)).run, args=(stop, wakeup), daemon=True
    )
    worker.start()
    try:
        result = subprocess.run(
            [sys.executable, "-c", program], cwd=tmp_path, env=partner, capture_output=True, text=True, timeout=60
        )
    finally:
        stop.set()
        wakeup.set()
        worker.join(timeout=10)
        postgres_app.config["OUTBOX_POLL_INTERVAL"] = 2
    assert result.returncode == 0, result.stderr
    booking = json.loads(result.stdout)
    assert (booking["partnerBookingId"], booking["state"], booking["attempts"]) == ("booking-1001", "delivered", 1)
    assert len([a for a in st_sandbox.state.applied if a.path.endswith("/bookings")]) == 1
