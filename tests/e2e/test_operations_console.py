"""The operations pages in Chromium, by keyboard alone: a booking the sandbox refused with
IntegrationDisabled is found, opened, resent and delivered; a flagged delivery is judged
again once its booking exists; a disabled admin's copied session cookie is refused at
once; every destructive action asks first and does nothing when cancelled. The new pages
are photographed at 1280 px and 375 px into docs/images/admin/ for the admin guide.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import (
    Admin,
    Booking,
    Client,
    ExtraDetailParameter,
    JobType,
    OutboxMessage,
    Pairing,
    SigningKey,
    WebhookDelivery,
    WebhookSigningKey,
)
from oidc_provider.servicetitan import bookings, webhooks
from oidc_provider.servicetitan.outbox import OutboxWorker
from tests.console import sample_booking, seed_world
from tests.e2e import test_admin_console as console_tests
from tests.e2e.test_admin_console import (
    ADMIN,
    DESKTOP,
    SCREENSHOTS,
    open_page,
    press_button,
    screenshot,
    tab_to,
    type_into,
)
from tests.factories import PASSWORD
from tests.web.admin.test_console_environment import add_booking

# The console tests' fixtures: empty tables with the directory and one admin, the admin's
# browser page, and signing keys put back after a test that retires one.
make = console_tests.make
admin_page = console_tests.admin_page
restore_signing_keys = console_tests.restore_signing_keys

GUIDE_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images" / "admin"


def keyboard_sign_in(page, url: str, email: str = ADMIN) -> None:
    open_page(page, url + "/admin/login")
    type_into(page, page.get_by_label("Email"), email)
    type_into(page, page.get_by_label("Password"), PASSWORD)
    press_button(page, "Sign in")
    assert page.url == url + "/admin/"


def follow_link(page, name: str) -> None:
    tab_to(page, page.get_by_role("link", name=name))
    with page.expect_navigation():
        page.keyboard.press("Enter")


def focused_text(page) -> str:
    return page.evaluate("document.activeElement.textContent.trim()")


def for_the_guide(page, name: str) -> None:
    """The page at both widths, into the admin guide's images as well."""
    screenshot(page, name)
    GUIDE_IMAGES.mkdir(parents=True, exist_ok=True)
    for suffix in ("desktop", "375px"):
        shutil.copy(SCREENSHOTS / f"{name}-{suffix}.png", GUIDE_IMAGES / f"{name}-{suffix}.png")


@pytest.fixture
def servicetitan(postgres_app, make, st_sandbox):
    """The sandbox plays ServiceTitan: acct-hvac paired, the job type hvac-repair mapped."""
    make.servicetitan(st_sandbox.url)
    with postgres_app.app_context():
        db.session.add(JobType(category="HVAC", partner_key="hvac-repair", position=1))
        db.session.add(ExtraDetailParameter(key="campaign", key_folded="campaign", display_name="Campaign"))
        db.session.commit()
    st_sandbox.state.pair_account(
        {"id": "acct-hvac", "name": "MTech HVAC", "profiles": [{"id": "p-north", "name": "North"}]}
    )
    return st_sandbox


def send(app) -> None:
    OutboxWorker(app, rng=random.Random(1)).run_once()


def test_a_refused_booking_is_found_opened_resent_and_delivered(postgres_app, provider, admin_page, servicetitan):
    page, url = admin_page, provider.url
    servicetitan.state.disable_account("acct-hvac")
    with postgres_app.app_context():
        booking_id = bookings.submit_booking(sample_booking("bk-e2e-1")).id
    send(postgres_app)
    servicetitan.state.disable_account("acct-hvac", False)  # the cause, fixed on ServiceTitan's side

    keyboard_sign_in(page, url)
    follow_link(page, "1 failed message in the outbox")
    assert "view=failed" in page.url
    for_the_guide(page, "20-outbox")
    follow_link(page, "booking bk-e2e-1")
    follow_link(page, "bk-e2e-1")
    assert page.url == f"{url}/admin/bookings/{booking_id}"
    page.get_by_text("Integration is disabled").first.wait_for()
    for_the_guide(page, "22-booking")

    press_button(page, "Resend booking")
    assert "new idempotency token" in page.text_content("main")
    assert focused_text(page) == "Cancel"
    for_the_guide(page, "25-confirmation")
    press_button(page, "Resend")
    assert page.url == f"{url}/admin/bookings/{booking_id}"
    send(postgres_app)
    page.reload()
    page.get_by_text("delivered").first.wait_for()
    with postgres_app.app_context():
        message = db.session.get(Booking, booking_id).message
        assert message.state == "delivered" and message.idempotency_token != "tok-bk-e2e-1"
        assert [a.outcome for a in message.attempt_log] == ["failed", "delivered"]

    press_button(page, "Show personal data")
    page.get_by_text("recorded in the audit log").first.wait_for()
    assert "1 Main St" in page.text_content("main")
    open_page(page, url + "/admin/bookings")
    for_the_guide(page, "21-bookings")
    assert page.console_errors == []


def test_a_flagged_delivery_is_judged_again_once_its_booking_exists(postgres_app, provider, admin_page, servicetitan):
    page, url = admin_page, provider.url
    body = (
        b'{"partnerBookingId": "bk-e2e-2", "accountId": "acct-hvac", "profileId": "p-north",'
        b' "statusUpdateId": "su-e2e-2", "status": "Accepted", "timestamp": 1764700000,'
        b' "eventData": {"acceptedTimestamp": 1764700000, "leadDeliveredTimestamp": 1764690000}}'
    )
    with postgres_app.app_context():
        # At the sandbox's URL: the booking submitted below goes to the sandbox environment.
        delivery_id = webhooks.receive(
            "leads/accepted", {"Content-Type": "application/json"}, body, "sandbox"
        ).delivery_id

    keyboard_sign_in(page, url)
    follow_link(page, "1 flagged webhook delivery")
    for_the_guide(page, "23-webhooks")
    follow_link(page, f"#{delivery_id}")
    for_the_guide(page, "24-webhook-delivery")

    with postgres_app.app_context():
        bookings.submit_booking(sample_booking("bk-e2e-2"))
    press_button(page, "Judge again")
    page.get_by_text("Judged again: recorded.").wait_for()
    with postgres_app.app_context():
        assert db.session.get(WebhookDelivery, delivery_id).state == "stored"
    assert page.console_errors == []


def test_a_disabled_admins_copied_cookie_is_refused_at_once(postgres_app, provider, browser, admin_page, make):
    page, url = admin_page, provider.url
    make.admin("other@partner.example")
    other = browser.new_context(viewport=DESKTOP)
    other_page = other.new_page()
    keyboard_sign_in(other_page, url, "other@partner.example")
    copied = [c for c in other.cookies() if c["name"] == "session"]
    thief = browser.new_context(viewport=DESKTOP)
    thief.add_cookies(copied)
    thief_page = thief.new_page()
    thief_page.goto(url + "/admin/clients")
    assert thief_page.url == url + "/admin/clients"  # the copy works while the session lives

    keyboard_sign_in(page, url)
    open_page(page, url + "/admin/admins")
    for_the_guide(page, "26-admins")
    press_button(page, "Disable other@partner.example")
    assert focused_text(page) == "Cancel"
    press_button(page, "Disable admin")
    with postgres_app.app_context():
        assert db.session.scalar(select(Admin).where(Admin.email == "other@partner.example")).disabled_at is not None

    for browser_page in (thief_page, other_page):
        browser_page.goto(url + "/admin/clients")
        assert browser_page.url.startswith(url + "/admin/login?expired=1")
        browser_page.get_by_text("Your session ended").wait_for()
    other.close()
    thief.close()
    assert page.console_errors == []


def test_every_destructive_action_asks_first_and_cancel_does_nothing(
    postgres_app,
    provider,
    admin_page,
    restore_signing_keys,
):
    page, url = admin_page, provider.url
    world = seed_world(postgres_app, retirable_key=True)
    keyboard_sign_in(page, url)
    actions = [
        ("/admin/keys", f"Retire key {world['kid']}", "Retire key"),
        (f"/admin/clients/{world['client_id']}", "Disable client", "Disable client"),
        ("/admin/pairings", "Decline pairing of MTech HVAC for owner@mtech.example", "Decline pairing"),
        ("/admin/outbox", f"Discard message {world['message_id']}", "Discard message"),
        (f"/admin/bookings/{world['booking_id']}", "Discard booking", "Discard message"),
        ("/admin/admins", "Remove other@partner.example", "Remove admin"),
    ]

    def state():
        with postgres_app.app_context():
            return (
                db.session.get(SigningKey, world["kid"]).retired_at,
                db.session.scalar(select(Client.enabled).where(Client.client_id == world["client_id"])),
                db.session.get(Pairing, world["pairing_id"]).status,
                db.session.get(OutboxMessage, world["message_id"]).state,
                db.session.scalar(select(Admin.id).where(Admin.email == "other@partner.example")),
                len(db.session.scalars(select(WebhookSigningKey).where(WebhookSigningKey.retired_at.is_(None))).all()),
            )

    before = state()
    for path, button, action in actions:
        open_page(page, url + path)
        press_button(page, button)
        assert page.get_by_role("button", name=action, exact=True).count() == 1, path
        assert focused_text(page) == "Cancel", path
        with page.expect_navigation():
            page.keyboard.press("Enter")  # on the safe choice
        assert page.url.startswith(url + path.split("?")[0]), path
        assert state() == before, path
    assert before[0] is None and before[3] == "failed"
    assert page.console_errors == []


def test_photographs_of_the_overview_and_the_go_live_checklist(postgres_app, provider, admin_page, servicetitan):
    page, url = admin_page, provider.url
    servicetitan.state.disable_account("acct-hvac")
    with postgres_app.app_context():
        bookings.submit_booking(sample_booking("bk-e2e-3"))
        webhooks.receive("accounts", {}, b"<not json>")
    send(postgres_app)
    keyboard_sign_in(page, url)
    for_the_guide(page, "03-overview")
    open_page(page, url + "/admin/go-live/sandbox")
    page.get_by_text("Not ready").wait_for()  # no client yet, and a failed message
    for_the_guide(page, "27-go-live")
    assert page.console_errors == []


def test_the_console_shows_one_environment_at_a_time(postgres_app, provider, admin_page, make):
    page, url = admin_page, provider.url
    add_booking(postgres_app, "bk-e2e-sandbox", "sandbox")
    add_booking(postgres_app, "bk-e2e-production", "production")

    keyboard_sign_in(page, url)
    tab_to(page, page.locator("#console-environment"))
    page.keyboard.type("Sandbox")  # a closed list box takes the typed name
    press_button(page, "Show")
    page.get_by_text("Showing sandbox only").wait_for()
    tab_to(page, page.get_by_role("link", name="Bookings", exact=True))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == url + "/admin/bookings"
    main = page.text_content("main")
    assert "bk-e2e-sandbox" in main and "bk-e2e-production" not in main
    page.get_by_text("Showing sandbox only").wait_for()
    assert page.console_errors == []
