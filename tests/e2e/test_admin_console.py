"""The admin console in Chromium: a client registered through the console pairs an account
through the real authorization flow; every form filled by keyboard alone; every page
photographed at desktop width and at 375 px into test-artifacts/screenshots/admin/.

The provider runs on a loopback port; ServiceTitan is the sandbox relying party on another.
The admin and the tenant use separate browser contexts, as two people on two machines.
Browser tests run once, on PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import (
    AuditEvent,
    Client,
    ExtraDetailParameter,
    JobType,
    Pairing,
    SigningKey,
    TenantUser,
    WebhookSigningKey,
)
from oidc_provider.oidc.keys import create_key
from oidc_provider.servicetitan.catalog.extra_details import save_parameters
from oidc_provider.servicetitan.catalog.job_types import import_csv
from oidc_provider.servicetitan.catalog.webhook_keys import generate
from st_sandbox import create_app as create_sandbox
from tests.conftest import LiveServer, _empty_tables, seed_signing_keys
from tests.factories import PASSWORD, Factories

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "admin"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
ADMIN = "admin@partner.example"


@pytest.fixture
def make(postgres_app, provider) -> Factories:
    """Empty tables, the standard directory and one admin."""
    _empty_tables(postgres_app)
    factories = Factories(postgres_app)
    factories.directory()
    factories.admin(ADMIN)
    return factories


@pytest.fixture
def admin_page(browser, make, provider):
    """A browser context of its own for the admin, at desktop width."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    # Chromium logs every 4xx answer as a console error; a refused form (401, 422) is expected
    # here, so statuses are judged from the responses instead.
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}")
            if response.status == 404 or response.status >= 500
            else None
        ),
    )
    page.console_errors = errors
    yield page
    context.close()


def sign_in(page, provider, email: str = ADMIN, password: str = PASSWORD) -> None:
    page.goto(provider.url + "/admin/")
    assert page.url.startswith(provider.url + "/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Overview").wait_for()


def audit_kinds(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)))


def screenshot(page, name: str) -> None:
    """The page at desktop width and at 375 px. At 375 px nothing may stick out sideways."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=SCREENSHOTS / f"{name}-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    overflow = page.evaluate("document.documentElement.scrollWidth")
    page.screenshot(path=SCREENSHOTS / f"{name}-375px.png", full_page=True)
    page.set_viewport_size(DESKTOP)
    assert overflow <= PHONE["width"], f"{name} is {overflow} px wide at 375 px"


UNLABELLED_CONTROLS = """() => Array.from(document.querySelectorAll('input, select, textarea, button'))
    .filter(el => el.type !== 'hidden' && !el.hidden)
    .filter(el => {
        const name = (el.labels && el.labels.length ? Array.from(el.labels).map(l => l.textContent).join(' ') : '')
            || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' ? el.textContent : '');
        return !name.trim();
    })
    .map(el => el.outerHTML.slice(0, 120))"""


def token_endpoint_answer(provider, client_id: str, secret: str) -> tuple[int, str]:
    """The token endpoint's answer to a made-up code: invalid_client when the secret is
    refused, invalid_grant when it is accepted."""
    response = requests.post(
        provider.url + "/token",
        data={
            "grant_type": "authorization_code",
            "code": "made-up",
            "redirect_uri": "https://x.example/cb",
            "client_id": client_id,
            "client_secret": secret,
        },
        auth=(client_id, secret),
        timeout=10,
    )
    return response.status_code, response.json()["error"]


# -- a client made in the console pairs an account ---------------------------------------------


def test_console_client_reads_its_secret_once_rotates_it_and_pairs(postgres_app, provider, browser, admin_page):
    page = admin_page
    sandbox = create_sandbox(
        {
            "ST_SANDBOX_ISSUER": provider.url,
            "ST_SANDBOX_CLIENT_ID": "not-registered-yet",
            "ST_SANDBOX_CLIENT_SECRET": "not-registered-yet",
        }
    )
    with LiveServer(sandbox) as sandbox_server:
        callback = sandbox_server.url + "/callback"
        sign_in(page, provider)

        # Create the client.
        page.get_by_role("link", name="Clients", exact=True).click()
        page.get_by_role("link", name="New client").click()
        page.get_by_label("Name").fill("ServiceTitan sandbox")
        page.get_by_label("Redirect URIs").fill(callback)
        for scope in ("openid", "profile", "email"):
            assert page.get_by_label(scope, exact=True).is_checked()
        page.get_by_role("button", name="Create client").click()
        page.get_by_text("Client created.").wait_for()
        client_id = page.locator("#value-client-id").text_content()
        first_secret = page.locator("#value-client-secret").text_content()
        assert len(first_secret) >= 43
        assert page.locator("#value-configuration-endpoint").text_content() == (
            provider.url + "/.well-known/openid-configuration"
        )
        assert page.locator("#value-scopes").text_content() == "openid profile email"
        assert page.get_by_role("button", name="Copy Client Secret").is_visible()

        # The secret is shown once: the sheet, opened again, does not have it.
        page.goto(f"{provider.url}/admin/clients/{client_id}/servicetitan")
        assert page.locator("#value-client-secret").count() == 0
        assert first_secret not in page.content()
        assert token_endpoint_answer(provider, client_id, first_secret) == (400, "invalid_grant")

        # Rotate it, without a grace period: the first secret stops working at once.
        page.goto(f"{provider.url}/admin/clients/{client_id}")
        page.get_by_label("Grace period (seconds)").fill("0")
        page.get_by_role("button", name="Rotate secret").click()
        page.get_by_text("Secret rotated.").wait_for()
        secret = page.locator("#value-client-secret").text_content()
        assert secret != first_secret
        assert token_endpoint_answer(provider, client_id, first_secret) == (401, "invalid_client")
        assert token_endpoint_answer(provider, client_id, secret) == (400, "invalid_grant")

        # ServiceTitan (the sandbox) pairs the owner's account with the rotated secret.
        sandbox.config.update(
            ST_SANDBOX_CLIENT_ID=client_id,
            ST_SANDBOX_CLIENT_SECRET=secret,
            ST_SANDBOX_REDIRECT_URI=callback,
            ST_SANDBOX_SCOPE="openid profile email",
        )
        tenant_context = browser.new_context(viewport=DESKTOP)
        tenant = tenant_context.new_page()
        tenant.goto(sandbox_server.url + "/")
        tenant.get_by_role("button", name="Pair Now").click()
        tenant.get_by_label("Email").fill("owner@mtech.example")
        tenant.get_by_label("Password").fill(PASSWORD)
        tenant.get_by_role("button", name="Sign in").click()
        tenant.get_by_role("button", name="Allow").click()
        tenant.wait_for_url(callback)
        assert tenant.locator("#pairing-status").text_content() == "COMPLETED"
        request_id = tenant.locator("#request-id").text_content()
        tenant_context.close()

    # The admin finds the pairing by its request id.
    page.get_by_role("link", name="Pairings", exact=True).click()
    page.get_by_label("Search request id, account or email").fill(request_id)
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    rows = page.locator("table tbody tr")
    assert rows.count() == 1
    row_text = rows.first.inner_text()
    for expected in ("COMPLETED", "MTech HVAC", "acct-hvac", "owner@mtech.example", "ServiceTitan sandbox", request_id):
        assert expected in row_text

    # ... and the audit entries of what happened.
    page.get_by_role("link", name="Audit log", exact=True).click()
    for kind, detail in (
        ("client_created", client_id),
        ("client_secret_rotated", client_id),
        ("pairing_created", "acct-hvac"),
        ("pairing_request_id_bound", request_id),
        ("admin_signed_in", ""),
    ):
        page.get_by_label("Event").select_option(kind)
        with page.expect_navigation():
            page.get_by_role("button", name="Filter").click()
        entries = page.locator("table tbody tr")
        assert entries.count() >= 1, kind
        assert kind in entries.first.inner_text()
        assert detail in entries.first.inner_text()
    assert page.console_errors == []


# -- every form by keyboard alone ------------------------------------------------------------------


def tab_to(page, target, limit: int = 200) -> None:
    """Press Tab until ``target`` (a locator) has the focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


def type_into(page, target, text: str, clear: bool = True) -> None:
    tab_to(page, target)
    if clear:
        page.keyboard.press("Control+A")
        page.keyboard.press("Delete")
    page.keyboard.type(text)


def press_button(page, name: str, exact: bool = True) -> None:
    tab_to(page, page.get_by_role("button", name=name, exact=exact))
    with page.expect_navigation() as navigation:
        page.keyboard.press("Enter")
    assert navigation.value.status in (200, 201), f"{name}: {navigation.value.status}"


def toggle(page, label: str) -> None:
    tab_to(page, page.get_by_label(label, exact=True))
    page.keyboard.press("Space")


def choose_file(page, target, path: Path) -> None:
    """Reach the file input by Tab. Picking the file happens in the operating system's
    dialog, not in the page, so the test hands the file to the focused input directly
    (pressing Space there to open the dialog proved unreliable in headless Chromium)."""
    tab_to(page, target)
    target.set_input_files(str(path))


def open_page(page, url: str, section: str | None = None) -> None:
    """Open a page; with ``section``, through its fragment, as a skip link or a link to a
    section does: the browser starts the Tab sequence there."""
    page.goto(url + (f"#{section}" if section else ""))
    if section is None and page.get_by_role("navigation", name="Console").count():
        # From the top of the document, past the navigation by the skip link.
        page.evaluate("document.activeElement && document.activeElement.blur()")
        tab_to(page, page.get_by_role("link", name="Skip to content"), limit=1)
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"


def seed_keyboard_world(app) -> dict:
    """A PROCESSING pairing to decide and a signing key old enough to retire."""
    factories = Factories(app)
    client = factories.client(name="ServiceTitan async", async_pairing=True)
    with app.app_context():
        now = clock.now()
        client_pk = db.session.scalar(select(Client.id).where(Client.client_id == client.client_id))
        owner = db.session.scalar(select(TenantUser).where(TenantUser.email == "owner@mtech.example"))
        db.session.add(
            Pairing(
                environment="sandbox",
                client_pk=client_pk,
                user_id=owner.id,
                account_id="acct-hvac",
                request_id="req-keyboard",
                status="PROCESSING",
                created_at=now,
                updated_at=now,
            )
        )
        old = create_key("RS256", now - timedelta(days=30))
        old.created_at = now - timedelta(days=31)
        db.session.commit()
        return {"client_id": client.client_id, "old_kid": old.kid}


@pytest.fixture
def restore_signing_keys(postgres_app):
    """The keys this test rotates in and retires must not reach the tests that follow."""
    yield
    with postgres_app.app_context():
        db.session.execute(SigningKey.__table__.delete())
        db.session.commit()
    seed_signing_keys(postgres_app)


def test_every_console_form_by_keyboard_alone(postgres_app, provider, admin_page, restore_signing_keys, tmp_path):
    page = admin_page
    world = seed_keyboard_world(postgres_app)
    url = provider.url

    # Sign in.
    open_page(page, url + "/admin/login")
    type_into(page, page.get_by_label("Email"), ADMIN)
    type_into(page, page.get_by_label("Password"), PASSWORD)
    press_button(page, "Sign in")
    assert page.url == url + "/admin/"

    # A new client: text, textarea, checkboxes, select, file.
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    open_page(page, url + "/admin/clients/new")
    type_into(page, page.get_by_label("Name"), "Keyboard client")
    type_into(page, page.get_by_label("Redirect URIs"), "https://servicetitan.example/keyboard")
    toggle(page, "email")
    tab_to(page, page.get_by_label("id_token algorithm"))
    page.keyboard.press("End")  # the last choice, HS256
    toggle(page, "accountInfo claim")
    toggle(page, "Remember consent")
    choose_file(page, page.get_by_label("Logo (optional)"), logo)
    press_button(page, "Create client")
    page.get_by_text("Client created.").wait_for()
    client_id = page.locator("#value-client-id").text_content()
    with postgres_app.app_context():
        client = db.session.scalar(select(Client).where(Client.client_id == client_id))
        assert (client.scope, client.id_token_alg, client.account_info_claim, client.remember_consent) == (
            "openid profile",
            "HS256",
            True,
            False,
        )
        assert client.logo_content_type == "image/png"

    # The setup sheet's forms.
    sheet = f"{url}/admin/clients/{client_id}/servicetitan"
    open_page(page, sheet, "general")
    type_into(page, page.get_by_label("Callback URL"), "https://servicetitan.example/callback")
    tab_to(page, page.get_by_label("ServiceTitan environment"))
    page.keyboard.press("End")  # production
    toggle(page, "Multi account support")
    press_button(page, "Save General Information")
    open_page(page, sheet, "general")
    choose_file(page, page.get_by_label("Upload a logo"), logo)
    press_button(page, "Upload logo")
    open_page(page, sheet, "webhooks")
    press_button(page, "Generate a key")
    open_page(page, sheet, "webhooks")
    type_into(page, page.get_by_label("Key that ServiceTitan generated"), "st-generated-webhook-key-0001")
    press_button(page, "Save pasted key")
    open_page(page, sheet, "webhooks")
    press_button(page, "Retire the previous key")
    press_button(page, "Retire webhook key")  # on the page that asks first
    open_page(page, sheet, "credentials")
    type_into(page, page.get_by_label("API client ID"), "st-api-client")
    type_into(page, page.get_by_label("API client secret"), "st-api-secret")
    type_into(page, page.get_by_label("Leads API URL (optional)"), "https://api.servicetitan.example")
    press_button(page, "Save API credentials")
    with postgres_app.app_context():
        client = db.session.scalar(select(Client).where(Client.client_id == client_id))
        assert (client.redirect_uris, client.servicetitan_environment, client.multi_account_support) == (
            ["https://servicetitan.example/callback"],
            "production",
            True,
        )
        keys = db.session.scalars(select(WebhookSigningKey).where(WebhookSigningKey.retired_at.is_(None))).all()
        assert [k.source for k in keys] == ["pasted"]
    assert page.locator(f"#value-webhook-key-{keys[0].id}").text_content() == "st-generated-webhook-key-0001"

    # Rotate with a grace period, disable, enable, delete with confirmation.
    open_page(page, f"{url}/admin/clients/{client_id}", "h-rotate")
    type_into(page, page.get_by_label("Grace period (seconds)"), "600")
    press_button(page, "Rotate secret")
    page.get_by_text("Secret rotated.").wait_for()
    open_page(page, f"{url}/admin/clients/{client_id}", "h-status")
    press_button(page, "Disable client")
    press_button(page, "Disable client")  # on the page that asks first
    press_button(page, "Enable client")
    tab_to(page, page.get_by_role("link", name="Delete client…"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    type_into(page, page.get_by_label("Type the client's name to confirm"), "Keyboard client")
    press_button(page, "Delete client")
    assert page.url == url + "/admin/clients"

    # Extra details.
    open_page(page, url + "/admin/servicetitan/extra-details")
    type_into(page, page.get_by_label("Parameter, row 1"), "campaign")
    type_into(page, page.get_by_label("Display Name, row 1"), "Campaign")
    press_button(page, "Save parameters")
    page.get_by_text("Saved.").wait_for()

    # Job types: add, change, remove, import.
    open_page(page, url + "/admin/job-types", "add")
    type_into(page, page.get_by_label("Category", exact=True), "Plumbing")
    type_into(page, page.get_by_label("Partner Job Type Key", exact=True), "plumb-repair")
    press_button(page, "Add")
    open_page(page, url + "/admin/job-types", "add")
    type_into(page, page.get_by_label("Partner Job Type Key in Plumbing"), "plumb-fix")
    press_button(page, "Save key in Plumbing")
    open_page(page, url + "/admin/job-types", "add")
    press_button(page, "Remove key plumb-fix from Plumbing")
    template = tmp_path / "job-types.csv"
    template.write_text("Category,Partner Job Type Key\nHVAC,hvac-install\nElectrical,\n")
    open_page(page, url + "/admin/job-types")
    choose_file(page, page.get_by_label("Upload a filled-in template"), template)
    press_button(page, "Import template")
    page.get_by_text("Imported: the mapping now has 2 rows.").wait_for()

    # Accounts: create, edit, mark not eligible, search.
    open_page(page, url + "/admin/accounts/new")
    type_into(page, page.get_by_label("Id"), "acct-keys")
    type_into(page, page.get_by_label("Name"), "Keyboard Heating")
    type_into(page, page.get_by_label("Profiles"), "p-keys, Main")
    press_button(page, "Create account")
    page.get_by_text("Saved.").wait_for()
    type_into(page, page.get_by_label("Name"), "Keyboard Heating & Air")
    press_button(page, "Save account")
    press_button(page, "Mark not eligible")
    open_page(page, url + "/admin/accounts")
    type_into(page, page.get_by_label("Search id or name"), "keyboard")
    press_button(page, "Filter")
    assert page.locator("table tbody tr").count() == 1

    # Users: create, edit, reset the password, search.
    open_page(page, url + "/admin/users/new")
    type_into(page, page.get_by_label("Email"), "keys@mtech.example")
    type_into(page, page.get_by_label("Name"), "Keys")
    type_into(page, page.get_by_label("Accounts"), "acct-keys acct-hvac")
    type_into(page, page.get_by_label("Password"), "a long password")
    press_button(page, "Create user")
    page.get_by_text("Saved.").wait_for()
    type_into(page, page.get_by_label("Name"), "Keys Person")
    press_button(page, "Save user")
    type_into(page, page.get_by_label("New password"), "another long password")
    press_button(page, "Reset password")
    page.get_by_text("The password was reset.").wait_for()
    open_page(page, url + "/admin/users")
    type_into(page, page.get_by_label("Search email or name"), "keys@")
    press_button(page, "Search")
    assert page.locator("table tbody tr").count() == 1

    # Directory import.
    document = tmp_path / "directory.json"
    document.write_text(json.dumps({"accounts": [{"id": "acct-imported", "name": "Imported", "profiles": []}]}))
    open_page(page, url + "/admin/directory/import")
    choose_file(page, page.get_by_label("Directory file"), document)
    press_button(page, "Import")
    page.get_by_text("Imported 1 accounts, 0 profiles and 0 users.").wait_for()

    # Pairings: filter, then approve the asynchronous one.
    open_page(page, url + "/admin/pairings")
    tab_to(page, page.get_by_label("Status"))
    page.keyboard.type("PROC")
    press_button(page, "Filter")
    assert "status=PROCESSING" in page.url
    press_button(page, "Approve pairing of MTech HVAC for owner@mtech.example")
    with postgres_app.app_context():
        decided = db.session.scalar(select(Pairing).where(Pairing.request_id == "req-keyboard"))
        assert (decided.status, decided.decided_by) == ("COMPLETED", ADMIN)

    # Signing keys: retire the old one, rotate.
    open_page(page, url + "/admin/keys")
    press_button(page, f"Retire key {world['old_kid']}")
    press_button(page, "Retire key")  # on the page that asks first
    toggle(page, "Activate now")
    press_button(page, "Rotate keys")
    with postgres_app.app_context():
        assert db.session.get(SigningKey, world["old_kid"]).retired_at is not None
        assert (
            db.session.scalar(select(func.count()).select_from(SigningKey).where(SigningKey.retired_at.is_(None))) == 4
        )

    # Audit log filter.
    open_page(page, url + "/admin/audit")
    type_into(page, page.get_by_label("Actor"), ADMIN)
    type_into(page, page.get_by_label("Search details"), "acct-keys")
    press_button(page, "Filter")
    assert page.locator("table tbody tr").count() >= 2

    # Sign out.
    press_button(page, "Sign out")
    assert page.url.startswith(url + "/admin/login")
    with postgres_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ExtraDetailParameter)) == 1
        assert db.session.scalars(select(JobType.partner_key).order_by(JobType.position)).all() == [
            "hvac-install",
            None,
        ]
    assert page.console_errors == []


# -- every page, on a laptop and on a phone -----------------------------------------------------


def seed_tour(app) -> dict:
    """Enough of everything that each page shows what it is for."""
    factories = Factories(app)
    sync = factories.client(name="ServiceTitan production")
    factories.client(name="ServiceTitan sandbox", async_pairing=True)
    with app.app_context():
        import_csv(
            "Category,Partner Job Type Key\nHVAC,hvac-repair\nHVAC,hvac-install\nPlumbing,plumb-drain\nElectrical,\n",
            ADMIN,
        )
        save_parameters([("campaign", "Campaign"), ("source_listing", "Source listing")], ADMIN)
        generate(ADMIN)
        clients = {c.name: c for c in db.session.scalars(select(Client))}
        users = {u.email: u for u in db.session.scalars(select(TenantUser))}
        start = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
        rows = [
            (
                "ServiceTitan production",
                "owner@mtech.example",
                "acct-hvac",
                "COMPLETED",
                "f1c2a9d4-7be0-4d8e-9b1a-3c5d6e7f8a90",
            ),
            (
                "ServiceTitan production",
                "manager@mtech.example",
                "acct-plumbing",
                "COMPLETED",
                "0b9e8d7c-6a5f-4e3d-2c1b-0a9f8e7d6c5b",
            ),
            (
                "ServiceTitan production",
                "manager@mtech.example",
                "acct-closed",
                "DECLINED",
                "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
            ),
            (
                "ServiceTitan sandbox",
                "manager@mtech.example",
                "acct-hvac",
                "PROCESSING",
                "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
            ),
        ]
        for index, (client, email, account, status, request_id) in enumerate(rows):
            at = start + timedelta(hours=index * 5)
            db.session.add(
                Pairing(
                    environment="sandbox",
                    client_pk=clients[client].id,
                    user_id=users[email].id,
                    account_id=account,
                    request_id=request_id,
                    status=status,
                    created_at=at,
                    updated_at=at,
                )
            )
        db.session.commit()
    return {"client_id": sync.client_id}


def test_screenshots_of_every_console_page(postgres_app, provider, admin_page):
    page = admin_page
    world = seed_tour(postgres_app)
    url = provider.url

    open_page(page, url + "/admin/login")
    screenshot(page, "01-sign-in")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("The email or password is incorrect.").wait_for()
    screenshot(page, "02-sign-in-refused")
    sign_in(page, provider)

    pages = [
        ("03-overview", "/admin/"),
        ("04-clients", "/admin/clients"),
        ("05-client-new", "/admin/clients/new"),
        ("07-client", f"/admin/clients/{world['client_id']}"),
        ("08-setup-sheet", f"/admin/clients/{world['client_id']}/servicetitan"),
        ("09-client-delete", f"/admin/clients/{world['client_id']}/delete"),
        ("10-accounts", "/admin/accounts"),
        ("11-account", "/admin/accounts/acct-hvac"),
        ("12-users", "/admin/users"),
        ("13-user", "/admin/users/new"),
        ("14-import-export", "/admin/directory/import"),
        ("15-pairings", "/admin/pairings"),
        ("16-signing-keys", "/admin/keys"),
        ("17-job-types", "/admin/job-types"),
        ("18-extra-details", "/admin/servicetitan/extra-details"),
        ("19-audit-log", "/admin/audit"),
    ]
    for name, path in pages:
        page.goto(url + path)
        assert page.evaluate(UNLABELLED_CONTROLS) == [], path
        screenshot(page, name)

    # A form with its validation errors, and the secret shown once after creation.
    page.goto(url + "/admin/clients/new")
    page.get_by_label("Name").fill("")
    page.get_by_label("Redirect URIs").fill("http://servicetitan.example/callback")
    page.get_by_label("accountInfo claim").check()
    page.get_by_label("Asynchronous pairing").check()
    page.get_by_role("button", name="Create client").click()
    page.get_by_text("problems to correct").wait_for()
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    screenshot(page, "06-client-new-errors")
    page.get_by_label("Name").fill("ServiceTitan")
    page.get_by_label("Redirect URIs").fill("https://servicetitan.example/callback")
    page.get_by_label("Asynchronous pairing").uncheck()
    page.get_by_role("button", name="Create client").click()
    page.get_by_text("Client created.").wait_for()
    screenshot(page, "08-setup-sheet-with-secret")
    # Each step of the sheet on its own, for the admin guide's walk-through.
    page.set_viewport_size({"width": 1000, "height": 800})
    for section in ("general", "webhooks", "urls", "credentials"):
        page.locator(f"#{section}").screenshot(path=SCREENSHOTS / f"08-setup-sheet-{section}.png")
    assert page.console_errors == []
