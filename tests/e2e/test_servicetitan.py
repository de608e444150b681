"""The ServiceTitan side end to end in Chromium: the provider and the sandbox on loopback
ports, an outbox worker running beside them, the tenant clicking through a Custom pairing
and an asynchronous OpenID pairing that an admin approves. Runs once, on PostgreSQL."""

from __future__ import annotations

import random
import threading

import pytest

from oidc_provider.servicetitan import outbox
from st_sandbox import create_app as create_sandbox
from tests.conftest import LiveServer, _empty_tables
from tests.factories import PASSWORD, Factories

WAIT = 15_000  # ms: the page reloads every CUSTOM_PAIRING_REFRESH seconds until final


@pytest.fixture(scope="module")
def provider(postgres_app):
    previous = dict(postgres_app.config)
    with LiveServer(postgres_app) as server:
        postgres_app.config.update(ISSUER=server.url, CUSTOM_PAIRING_REFRESH=1)
        yield server
    postgres_app.config.update(ISSUER=previous["ISSUER"], CUSTOM_PAIRING_REFRESH=previous["CUSTOM_PAIRING_REFRESH"])


@pytest.fixture
def servicetitan(postgres_app, provider):
    """An empty provider with the standard tenant, a sandbox that knows the provider's
    Custom pairing URL, and an outbox worker thread sending to it."""
    _empty_tables(postgres_app)
    make = Factories(postgres_app)
    make.directory()
    sandbox_app = create_sandbox(
        {"ST_SANDBOX_ISSUER": provider.url, "ST_SANDBOX_CUSTOM_PAIRING_URL": provider.url + "/st/pair"}
    )
    stop, wakeup = threading.Event(), threading.Event()
    with LiveServer(sandbox_app) as sandbox:
        make.servicetitan(sandbox.url)
        worker = outbox.OutboxWorker(postgres_app, name="e2e", rng=random.Random(1))
        postgres_app.config["OUTBOX_POLL_INTERVAL"] = 0.2
        thread = threading.Thread(target=worker.run, args=(stop, wakeup), daemon=True)
        thread.start()
        try:
            yield make, sandbox_app, sandbox.url
        finally:
            stop.set()
            wakeup.set()
            thread.join(timeout=10)
            postgres_app.config["OUTBOX_POLL_INTERVAL"] = 2


@pytest.fixture
def console_log(page) -> list[str]:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.on("pageerror", lambda error: messages.append(str(error)))
    return messages


def sign_in(page, email="owner@mtech.example"):
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def request_row(page, sandbox_url: str, request_id: str):
    page.goto(sandbox_url + "/")
    return page.locator(f'#requests tr[data-request-id="{request_id}"]')


def test_custom_pairing_in_the_browser(servicetitan, page, console_log, provider):
    make, sandbox_app, sandbox_url = servicetitan
    page.goto(sandbox_url + "/")
    page.get_by_role("button", name="Pair with Custom pairing").click()
    page.get_by_label("Email").wait_for()
    assert page.url.startswith(provider.url + "/login?next=")
    [request_id] = sandbox_app.extensions["st_sandbox"]["state"].requests

    sign_in(page, "manager@mtech.example")
    assert page.get_by_role("heading", level=1).text_content() == "ServiceTitan wants to pair with your account"
    page.get_by_label("MTech Plumbing").check()
    page.get_by_role("button", name="Allow").click()

    assert page.url == f"{provider.url}/st/pair?requestId={request_id}"
    page.locator('#pairing-progress[data-state="completed"]').wait_for(timeout=WAIT)
    assert page.locator("#pairing-state").text_content() == "MTech Plumbing is paired with ServiceTitan."
    assert [step.text_content() for step in page.locator("ul.steps li").all()] == [
        "PROCESSING: received by ServiceTitan",
        "COMPLETED: received by ServiceTitan",
    ]

    row = request_row(page, sandbox_url, request_id)
    assert row.locator(".status").text_content() == "COMPLETED"
    assert "MTech Plumbing" in row.text_content()
    assert [line for line in console_log if "Content Security Policy" in line] == []


def test_asynchronous_openid_pairing_completed_by_an_admin(servicetitan, page, console_log, postgres_app):
    make, sandbox_app, sandbox_url = servicetitan
    client = make.client(redirect_uris=[sandbox_url + "/callback"], async_pairing=True)
    sandbox_app.config.update(
        ST_SANDBOX_CLIENT_ID=client.client_id,
        ST_SANDBOX_CLIENT_SECRET=client.client_secret,
        ST_SANDBOX_SCOPE=client.scope,
    )
    page.goto(sandbox_url + "/")
    page.get_by_role("button", name="Pair Now").click()
    sign_in(page)
    page.get_by_role("button", name="Allow").click()

    page.locator("#pairing-status").wait_for()
    assert page.locator("#pairing-status").text_content() == "PROCESSING"
    request_id = page.locator("#request-id").text_content()
    assert request_row(page, sandbox_url, request_id).locator(".status").text_content() == "PROCESSING"

    approved = postgres_app.test_cli_runner().invoke(args=["pairings", "approve", request_id])
    assert approved.exit_code == 0, approved.output

    for _ in range(50):  # the worker is woken by the approval's commit; the page is reloaded
        row = request_row(page, sandbox_url, request_id)
        if row.locator(".status").text_content() == "COMPLETED":
            break
        page.wait_for_timeout(200)
    assert row.locator(".status").text_content() == "COMPLETED"
    assert "MTech HVAC" in row.text_content()
    assert [line for line in console_log if "Content Security Policy" in line] == []
