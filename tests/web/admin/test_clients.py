"""Client registrations in the console: creation with the command line's rules, the secret
shown once, rotation with a grace period, enable and disable, deletion with confirmation,
the logo."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent, Client
from tests.console import PNG
from tests.flows import basic

VALID = {
    "name": "ServiceTitan",
    "redirect_uris": "https://servicetitan.example/callback",
    "scope": ["openid", "profile", "email"],
    "id_token_alg": "RS256",
    "remember_consent": "on",
}
SECRET = re.compile(r'id="value-client-secret" class="value secret">([^<]+)<')
CLIENT_ID = re.compile(r'id="value-client-id" class="value">([^<]+)<')


def field_error(page: str, field_id: str) -> str | None:
    match = re.search(rf'<p class="field-error" id="{field_id}-error">([^<]*)</p>', page)
    return match and match.group(1)


def stored(app, client_id: str) -> Client:
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.client_id == client_id))
        db.session.expunge(client)
        return client


def token_status(web, client_id: str, secret: str) -> tuple[int, str]:
    """The token endpoint's answer to a made-up code: 401 when the secret is refused, 400
    (invalid_grant) when it is accepted."""
    response = web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": "made-up",
            "redirect_uri": "https://servicetitan.example/callback",
        },
        headers={"Authorization": basic(client_id, secret)},
    )
    return response.status_code, response.json["error"]


# -- creation -------------------------------------------------------------------------------


def test_the_creation_form_offers_every_setting(console):
    page = console.get("/admin/clients/new").text

    for label in (
        "Name",
        "Redirect URIs",
        "openid",
        "profile",
        "email",
        "id_token algorithm",
        "accountInfo claim",
        "Asynchronous pairing",
        "Remember consent",
        "Logo (optional)",
    ):
        assert f">{label}</label>" in page, label
    assert 'accept=".jpeg,.jpg,.png,.svg' in page


def test_creating_a_client_shows_its_secret_once(clean_app, console):
    response = console.post("/admin/clients/new", VALID)

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert "Client created." in response.text
    secret = SECRET.search(response.text).group(1)
    client_id = CLIENT_ID.search(response.text).group(1)
    client = stored(clean_app, client_id)
    assert (client.name, client.redirect_uris, client.scope, client.id_token_alg) == (
        "ServiceTitan",
        ["https://servicetitan.example/callback"],
        "openid profile email",
        "RS256",
    )
    assert (client.account_info_claim, client.async_pairing, client.remember_consent) == (False, False, True)
    assert client.secret_hash and secret not in (client.secret_hash or "") and client.secret_encrypted is None
    assert token_status(console.web, client_id, secret) == (400, "invalid_grant")
    # Never again: not on the client's page, not on its setup sheet, not in the list.
    for path in (f"/admin/clients/{client_id}", f"/admin/clients/{client_id}/servicetitan", "/admin/clients"):
        page = console.get(path)
        assert page.status_code == 200
        assert secret not in page.text
    with clean_app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "client_created"))
        assert (event.actor, event.detail["client_id"]) == (console.email, client_id)
        assert secret not in str(event.detail)


def test_an_hs256_client_is_made_with_the_options_ticked(clean_app, console):
    response = console.post(
        "/admin/clients/new",
        {**VALID, "id_token_alg": "HS256", "account_info_claim": "on", "scope": ["openid"], "remember_consent": None},
    )
    client = stored(clean_app, CLIENT_ID.search(response.text).group(1))

    assert (client.id_token_alg, client.account_info_claim, client.remember_consent, client.scope) == (
        "HS256",
        True,
        False,
        "openid",
    )
    assert client.secret_hash is None and client.secret_encrypted  # the secret signs id_tokens


@pytest.mark.parametrize(
    ("change", "field_id", "message"),
    [
        ({"name": ""}, "client-name", "give a name of 1 to 128 characters"),
        ({"name": "x" * 129}, "client-name", "give a name of 1 to 128 characters"),
        ({"redirect_uris": ""}, "client-redirect_uris", "give at least one redirect URI"),
        (
            {"redirect_uris": "http://servicetitan.example/cb"},
            "client-redirect_uris",
            "'http://servicetitan.example/cb' must use https (http is only for loopback addresses)",
        ),
        (
            {"redirect_uris": "https://servicetitan.example/cb#x"},
            "client-redirect_uris",
            "'https://servicetitan.example/cb#x' must not have a fragment",
        ),
        ({"scope": ["profile"]}, "client-scope", "the scopes must include openid"),
        ({"scope": ["openid", "admin"]}, "client-scope", "unsupported scope 'admin'; choose from openid profile email"),
        ({"id_token_alg": "none"}, "client-id_token_alg", "choose one of RS256, ES256, HS256"),
        (
            {"account_info_claim": "on", "async_pairing": "on"},
            "client-async_pairing",
            "the accountInfo claim ends pairing at once, so no request id would ever arrive: choose one of the two",
        ),
    ],
)
def test_creation_is_refused_with_the_problem_next_to_its_field(clean_app, console, make, change, field_id, message):
    response = console.post("/admin/clients/new", {**VALID, **change})

    assert response.status_code == 422
    assert field_error(response.text, field_id) == message.replace("'", "&#39;")
    assert "problem" in response.text and "to correct" in response.text
    assert make.count(Client) == 0
    assert make.count(AuditEvent) == 0


def test_the_refused_form_keeps_what_was_typed(console):
    response = console.post(
        "/admin/clients/new", {**VALID, "name": "", "redirect_uris": "https://a.example/cb\nhttps://b.example/cb"}
    )

    assert "https://a.example/cb\nhttps://b.example/cb</textarea>" in response.text
    assert 'name="remember_consent" type="checkbox" value="on" checked' in response.text


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("logo.gif", b"GIF89a", "ServiceTitan accepts only .jpeg, .png, .jpg and .svg files"),
        ("logo.png", b"\xff\xd8\xff\xe0 a jpeg", "the file is named .png but its content is not a PNG image"),
        (
            "logo.svg",
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "an SVG logo must not contain &lt;script&gt; elements",
        ),
    ],
)
def test_a_logo_is_judged_by_its_content(clean_app, console, make, filename, content, message):
    response = console.post(
        "/admin/clients/new", {**VALID, "logo": (io.BytesIO(content), filename)}, content_type="multipart/form-data"
    )

    assert response.status_code == 422
    assert field_error(response.text, "client-logo") == message
    assert make.count(Client) == 0


def test_a_logo_is_kept_and_served_only_as_an_image(clean_app, console):
    response = console.post(
        "/admin/clients/new", {**VALID, "logo": (io.BytesIO(PNG), "Logo.PNG")}, content_type="multipart/form-data"
    )
    client_id = CLIENT_ID.search(response.text).group(1)

    logo = console.get(f"/admin/clients/{client_id}/logo")

    assert logo.status_code == 200
    assert logo.mimetype == "image/png"
    assert logo.data == PNG
    assert "sandbox" in logo.headers["Content-Security-Policy"]


def test_a_large_logo_passes_the_protocol_body_limit_but_not_its_own(clean_app, console, make):
    """The console's uploads get ADMIN_UPLOAD_MAX_BYTES, not the 64 KiB of protocol requests."""
    big_png = PNG + b"\x00" * (200 * 1024)
    response = console.post(
        "/admin/clients/new", {**VALID, "logo": (io.BytesIO(big_png), "logo.png")}, content_type="multipart/form-data"
    )
    assert response.status_code == 201

    huge_png = PNG + b"\x00" * (1024 * 1024)
    response = console.post(
        "/admin/clients/new", {**VALID, "logo": (io.BytesIO(huge_png), "logo.png")}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert field_error(response.text, "client-logo") == "the logo is larger than 1024 KiB"
    assert make.count(Client) == 1


def test_the_upload_limit_still_holds_elsewhere(console):
    response = console.post("/admin/accounts/new", {"id": "a", "name": "x" * (70 * 1024)})
    assert response.status_code == 413


# -- the client's page: rotation, status, deletion --------------------------------------------


@pytest.fixture
def registered(make):
    return make.client(name="ServiceTitan")


def test_the_client_page_lists_its_settings_without_the_secret(console, registered):
    page = console.get(f"/admin/clients/{registered.client_id}")

    assert page.status_code == 200
    assert registered.client_id in page.text
    assert registered.redirect_uri in page.text
    assert registered.client_secret not in page.text
    assert console.get("/admin/clients/no-such-client").status_code == 404


def test_rotation_without_grace_ends_the_old_secret_at_once(clean_app, console, registered):
    response = console.post(f"/admin/clients/{registered.client_id}/rotate", {"grace_seconds": "0"})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Secret rotated." in response.text
    secret = SECRET.search(response.text).group(1)
    assert secret != registered.client_secret
    assert token_status(console.web, registered.client_id, registered.client_secret) == (401, "invalid_client")
    assert token_status(console.web, registered.client_id, secret) == (400, "invalid_grant")
    assert secret not in console.get(f"/admin/clients/{registered.client_id}/servicetitan").text


def test_rotation_with_grace_keeps_the_old_secret_for_a_while(clean_app, console, registered, frozen_clock):
    response = console.post(f"/admin/clients/{registered.client_id}/rotate", {"grace_seconds": "600"})
    secret = SECRET.search(response.text).group(1)

    assert token_status(console.web, registered.client_id, registered.client_secret) == (400, "invalid_grant")
    assert "Previous secret valid until" in console.get(f"/admin/clients/{registered.client_id}").text
    frozen_clock.advance(601)
    assert token_status(console.web, registered.client_id, registered.client_secret) == (401, "invalid_client")
    assert token_status(console.web, registered.client_id, secret) == (400, "invalid_grant")


@pytest.mark.parametrize(
    ("grace", "message"),
    [
        ("soon", "give a whole number of seconds"),
        ("-1", "must be 0 to 2592000 seconds (30 days)"),
        ("99999999999999999999", "must be 0 to 2592000 seconds (30 days)"),
    ],
)
def test_a_bad_grace_period_is_refused_and_the_secret_kept(clean_app, console, registered, grace, message):
    response = console.post(f"/admin/clients/{registered.client_id}/rotate", {"grace_seconds": grace})

    assert response.status_code == 422
    assert field_error(response.text, "rotate-grace_seconds") == message
    assert SECRET.search(response.text) is None
    assert token_status(console.web, registered.client_id, registered.client_secret) == (400, "invalid_grant")


def test_disable_and_enable(clean_app, console, registered):
    response = console.post(f"/admin/clients/{registered.client_id}/disable", {"confirmed": "yes"})
    assert response.status_code == 302
    assert stored(clean_app, registered.client_id).enabled is False
    assert "Enable client" in console.get(f"/admin/clients/{registered.client_id}").text

    console.post(f"/admin/clients/{registered.client_id}/enable")
    assert stored(clean_app, registered.client_id).enabled is True


def test_deletion_asks_for_the_clients_name(clean_app, console, registered, make):
    page = console.get(f"/admin/clients/{registered.client_id}/delete")
    assert "Type the client&#39;s name to confirm" in page.text

    refused = console.post(f"/admin/clients/{registered.client_id}/delete", {"confirm_name": "servicetitan"})
    assert refused.status_code == 422
    assert field_error(refused.text, "delete-confirm_name") == "type the client&#39;s name, ServiceTitan, exactly"
    assert make.count(Client) == 1

    deleted = console.post(f"/admin/clients/{registered.client_id}/delete", {"confirm_name": "ServiceTitan"})
    assert deleted.status_code == 302
    assert deleted.headers["Location"] == "/admin/clients"
    assert make.count(Client) == 0
    with clean_app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == "client_deleted"))
            == 1
        )


def test_the_list_shows_each_client(console, make):
    make.client(name="ServiceTitan production")
    make.client(name="ServiceTitan sandbox")

    page = console.get("/admin/clients").text

    assert "ServiceTitan production" in page and "ServiceTitan sandbox" in page
    assert "1–2 of 2" in page
