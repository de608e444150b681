"""The console's Pairings in Chromium, by keyboard alone: a Custom pairing is listed with its
mechanism, environment and profiles, and is unpaired only after a confirmation whose focus
starts on Cancel (cancelling changes nothing)."""

from __future__ import annotations

from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Pairing, TenantUser
from tests.e2e.test_admin_console import (  # noqa: F401 (fixtures)
    ADMIN,
    admin_page,
    make,
    open_page,
    press_button,
    tab_to,
    type_into,
)
from tests.factories import PASSWORD


def status_of(app, pairing_id: int) -> str:
    with app.app_context():
        return db.session.get(Pairing, pairing_id).status


def test_a_custom_pairing_is_unpaired_after_a_confirmation_by_keyboard(postgres_app, provider, request):
    page, url = request.getfixturevalue("admin_page"), provider.url
    with postgres_app.app_context():
        manager = db.session.scalar(select(TenantUser.id).where(TenantUser.email == "manager@mtech.example"))
        pairing = Pairing(
            mechanism="custom",
            environment="sandbox",
            user_id=manager,
            account_id="acct-plumbing",
            request_id="req-keyboard-custom",
            status="COMPLETED",
        )
        db.session.add(pairing)
        db.session.commit()
        pairing_id = pairing.id

    open_page(page, url + "/admin/login")
    type_into(page, page.get_by_label("Email"), ADMIN)
    type_into(page, page.get_by_label("Password"), PASSWORD)
    press_button(page, "Sign in")

    open_page(page, url + "/admin/pairings")
    row = page.locator(f"#pairing-{pairing_id}")
    assert row.locator('[data-label="Mechanism"]').text_content().strip() == "Custom"
    assert row.locator('[data-label="Environment"]').text_content().strip() == "sandbox"
    assert row.locator('[data-label="Profiles"]').text_content().strip() == "Main"

    # Unpair, then Cancel: the focus starts on Cancel, and Enter there changes nothing.
    press_button(page, "Unpair MTech Plumbing (sandbox)")
    assert page.get_by_role("heading", level=1).text_content() == "Unpair MTech Plumbing (sandbox)?"
    assert page.evaluate("document.activeElement.textContent") == "Cancel"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == url + "/admin/pairings"
    assert status_of(postgres_app, pairing_id) == "COMPLETED"

    # Unpair, then confirm.
    open_page(page, url + "/admin/pairings")
    press_button(page, "Unpair MTech Plumbing (sandbox)")
    press_button(page, "Unpair")
    assert page.url == url + "/admin/pairings"
    assert status_of(postgres_app, pairing_id) == "UNPAIRED"
    assert row.locator('[data-label="Status"] .badge').text_content() == "UNPAIRED"
    assert row.get_by_role("button", name="Unpair MTech Plumbing (sandbox)").count() == 0
    assert page.console_errors == []
