"""Partner API clients in Chromium, by keyboard alone: a client is created in the console, its
secret read once and used at /token over real HTTP; the secret is rotated (the old one still
works within the grace period) and the client revoked (cancelling first changes nothing;
confirming refuses its secrets and its tokens). The pages are photographed at 1280 px and
375 px into docs/images/admin/ for the admin guide.
"""

from __future__ import annotations

import requests
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import ApiClient, AuditEvent
from tests.e2e import test_admin_console as console_tests
from tests.e2e.test_admin_console import ADMIN, UNLABELLED_CONTROLS, open_page, press_button, toggle, type_into
from tests.e2e.test_operations_console import focused_text, follow_link, for_the_guide, keyboard_sign_in

make = console_tests.make
admin_page = console_tests.admin_page


def token_request(provider, client_id: str, secret: str) -> requests.Response:
    return requests.post(
        provider.url + "/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10
    )


def bookings_status(provider, access_token: str) -> int:
    response = requests.get(
        provider.url + "/api/v1/bookings", headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    )
    return response.status_code


def test_an_api_client_is_created_used_rotated_and_revoked_by_keyboard(postgres_app, provider, admin_page):
    page, url = admin_page, provider.url
    keyboard_sign_in(page, url)

    # Create it from the console's navigation.
    follow_link(page, "API clients")
    assert page.url == url + "/admin/api-clients"
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    type_into(page, page.get_by_label("Name"), "Booking platform")
    toggle(page, "bookings:read")
    toggle(page, "leads:read")
    press_button(page, "Create API client")
    page.get_by_text("API client created.").wait_for()
    assert "will not be shown again" in page.text_content("main")
    client_id = page.locator("#value-client-id").text_content()
    secret = page.locator("#value-client-secret").text_content()
    assert page.locator("#value-token-endpoint").text_content() == url + "/token"
    for_the_guide(page, "29-api-client-secret")

    # The secret works at /token, and no other page shows it again.
    answer = token_request(provider, client_id, secret)
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "bookings:read leads:read"
    assert bookings_status(provider, answer.json()["access_token"]) == 200
    follow_link(page, "back to the client")
    assert page.url == f"{url}/admin/api-clients/{client_id}"
    assert secret not in page.content()
    open_page(page, url + "/admin/api-clients")
    assert secret not in page.content()
    row = page.locator("table tbody tr").first.inner_text()
    for expected in ("Booking platform", client_id, "bookings:read leads:read", "Active", "UTC"):
        assert expected in row
    for_the_guide(page, "28-api-clients")

    # Rotate with a grace period: the page asks first, with the focus on Cancel.
    follow_link(page, "Booking platform")
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    for_the_guide(page, "30-api-client")
    type_into(page, page.get_by_label("Grace period (seconds)"), "3600")
    press_button(page, "Rotate secret")
    assert "The old secret keeps working for 1 h" in page.text_content("main")
    assert focused_text(page) == "Cancel"
    press_button(page, "Rotate secret")
    page.get_by_text("Secret rotated.").wait_for()
    new_secret = page.locator("#value-client-secret").text_content()
    assert new_secret != secret
    for old_or_new in (secret, new_secret):
        assert token_request(provider, client_id, old_or_new).status_code == 200
    access_token = token_request(provider, client_id, new_secret).json()["access_token"]

    # Revoke: cancelling first changes nothing.
    follow_link(page, "back to the client")
    assert "old secret valid until" in page.text_content("main")
    press_button(page, "Revoke client")
    assert "every token it holds is refused at once" in page.text_content("main")
    assert focused_text(page) == "Cancel"
    for_the_guide(page, "31-api-client-revoke")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # on the safe choice
    assert page.url == f"{url}/admin/api-clients/{client_id}"
    with postgres_app.app_context():
        assert db.session.scalar(select(ApiClient.revoked_at).where(ApiClient.client_id == client_id)) is None
    assert token_request(provider, client_id, new_secret).status_code == 200
    assert bookings_status(provider, access_token) == 200

    # Then confirming: neither secret gets a token, and the token it held is refused.
    press_button(page, "Revoke client")
    press_button(page, "Revoke client")  # on the page that asks first
    assert page.url == f"{url}/admin/api-clients/{client_id}"
    page.get_by_role("heading", name="Revoked").wait_for()
    for old_or_new in (secret, new_secret):
        refused = token_request(provider, client_id, old_or_new)
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert bookings_status(provider, access_token) == 401

    with postgres_app.app_context():
        audited = db.session.execute(
            select(AuditEvent.kind, AuditEvent.actor).where(AuditEvent.kind.startswith("api_client_"))
        ).all()
        logged = " ".join(str(detail) for detail in db.session.scalars(select(AuditEvent.detail)))
    assert sorted(audited) == [
        ("api_client_created", ADMIN),
        ("api_client_revoked", ADMIN),
        ("api_client_secret_rotated", ADMIN),
    ]
    assert secret not in logged and new_secret not in logged
    assert page.console_errors == []
