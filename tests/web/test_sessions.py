"""Sessions that can be taken back: signing out, disabling an admin or a new password ends
every copy of the session cookie at once; idle and absolute timeouts for admins and
tenants; and the back channel never does session work."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Admin, TenantUser
from oidc_provider.directory import admins
from oidc_provider.directory.store import set_password
from tests.console import csrf_token
from tests.factories import PASSWORD

ADMIN = "admin@partner.example"
SIGNED_IN = "You are signed in as"


def copy_of_session(source, app):
    """Another browser holding a copy of ``source``'s session cookie, as a thief would."""
    thief = app.test_client()
    thief.set_cookie("session", source.get_cookie("session").value, domain="localhost")
    return thief


def admin_sign_in(web, email=ADMIN):
    page = web.get("/admin/login")
    response = web.post(
        "/admin/login", data={"csrf_token": csrf_token(page.text), "email": email, "password": PASSWORD}
    )
    assert response.status_code == 302, response.text
    return response


def tenant_sign_in(web, email="owner@mtech.example", password=PASSWORD):
    page = web.get("/login")
    response = web.post("/login", data={"csrf_token": csrf_token(page.text), "email": email, "password": password})
    assert response.status_code == 302, response.text


@pytest.fixture
def two_admins(make):
    return make.admin(ADMIN), make.admin("second@partner.example")


def test_a_copy_of_an_admin_cookie_is_refused_once_the_admin_signs_out(clean_app, web, two_admins):
    admin_sign_in(web)
    thief = copy_of_session(web, clean_app)
    assert thief.get("/admin/clients").status_code == 200

    web.post("/admin/logout", data={"csrf_token": csrf_token(web.get("/admin/").text)})

    refused = thief.get("/admin/clients")
    assert refused.status_code == 302
    assert refused.headers["Location"].startswith("/admin/login?expired=1")


@pytest.mark.parametrize("change", ["disable", "reset_password"])
def test_disabling_an_admin_or_a_new_password_ends_their_sessions_at_once(clean_app, web, two_admins, change):
    admin_sign_in(web)
    thief = copy_of_session(web, clean_app)
    with clean_app.app_context():
        admin = admins.find_admin(ADMIN)
        if change == "disable":
            admins.disable(admin, "second@partner.example")
        else:
            admins.reset_password(admin, "a brand new password", "second@partner.example")

    for browser in (web, thief):
        response = browser.get("/admin/clients")
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/admin/login?expired=1")


def test_a_disabled_admin_cannot_sign_in(clean_app, web, two_admins):
    with clean_app.app_context():
        admins.disable(admins.find_admin(ADMIN), "second@partner.example")
    page = web.get("/admin/login")

    response = web.post(
        "/admin/login", data={"csrf_token": csrf_token(page.text), "email": ADMIN, "password": PASSWORD}
    )

    assert response.status_code == 401
    assert "The email or password is incorrect." in response.text


def test_an_admin_session_ends_at_its_absolute_lifetime_however_busy(clean_app, web, two_admins, frozen_clock):
    admin_sign_in(web)
    lifetime = clean_app.config["ADMIN_SESSION_LIFETIME"]
    step = clean_app.config["ADMIN_IDLE_TIMEOUT"] - 60
    elapsed = 0
    while elapsed + step < lifetime:
        frozen_clock.advance(step)
        elapsed += step
        assert web.get("/admin/").status_code == 200
    frozen_clock.advance(lifetime - elapsed + 1)

    assert web.get("/admin/").headers["Location"].startswith("/admin/login?expired=1")


def test_a_copy_of_a_tenant_cookie_is_refused_once_the_tenant_signs_out(clean_app, web, make):
    make.directory()
    tenant_sign_in(web)
    thief = copy_of_session(web, clean_app)
    assert SIGNED_IN in thief.get("/").text

    web.post("/logout", data={"csrf_token": csrf_token(web.get("/").text)})

    assert SIGNED_IN not in thief.get("/").text
    assert SIGNED_IN not in web.get("/").text


def test_a_new_tenant_password_ends_their_sessions(clean_app, web, make):
    make.directory()
    tenant_sign_in(web)
    with clean_app.app_context():
        user = db.session.scalar(select(TenantUser).where(TenantUser.email == "owner@mtech.example"))
        set_password(user, "another good password", "admin@partner.example")

    assert SIGNED_IN not in web.get("/").text


def test_a_directory_import_with_the_same_password_keeps_the_session(clean_app, web, make):
    document = make.directory()
    tenant_sign_in(web)

    make.directory(**document)

    assert SIGNED_IN in web.get("/").text


def test_an_idle_tenant_is_signed_out_and_a_busy_one_at_the_lifetime(clean_app, web, make, frozen_clock):
    make.directory()
    idle = clean_app.config["TENANT_SESSION_IDLE_TIMEOUT"]
    tenant_sign_in(web)
    frozen_clock.advance(idle - 1)
    assert SIGNED_IN in web.get("/").text  # each page counts as activity
    frozen_clock.advance(idle - 1)
    assert SIGNED_IN in web.get("/").text
    frozen_clock.advance(idle + 1)
    assert SIGNED_IN not in web.get("/").text

    tenant_sign_in(web)
    lifetime = clean_app.config["TENANT_SESSION_LIFETIME"]
    elapsed = 0
    while elapsed + idle - 60 < lifetime:
        frozen_clock.advance(idle - 60)
        elapsed += idle - 60
        assert SIGNED_IN in web.get("/").text
    frozen_clock.advance(lifetime - elapsed + 1)
    assert SIGNED_IN not in web.get("/").text


def test_the_back_channel_reads_no_user_for_a_session_cookie(clean_app, web, make, flows):
    """Token, account-info, discovery, JWKS and webhooks do no session work, even when a
    browser sends a signed-in cookie along."""
    make.directory()
    client = make.client()
    code = flows.code(client)
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    with clean_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        tokens = flows.exchange(client, code).get_json()
        flows.account_info(tokens["access_token"])
        web.get("/.well-known/openid-configuration")
        web.get("/jwks.json")
        web.post("/servicetitan/webhooks/accounts", data=b"{}")
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    user_reads = [s for s in statements if "FROM admins" in s or ("FROM tenant_users" in s and "password_hash" in s)]
    assert statements and user_reads == []
    with clean_app.app_context():
        assert db.session.scalar(select(Admin.id)) is None


def test_the_back_channel_answers_do_not_depend_on_the_session_cookie(clean_app, web, make, flows):
    """Its answers neither vary with the cookie nor set one: the session is never opened."""
    make.directory()
    client = make.client()
    code = flows.code(client)  # signs in: this browser now sends its session cookie along
    assert web.get_cookie(clean_app.config["SESSION_COOKIE_NAME"]) is not None
    exchanged = flows.exchange(client, code)
    answers = [
        exchanged,
        flows.account_info(exchanged.get_json()["access_token"]),
        web.get("/.well-known/openid-configuration"),
        web.get("/jwks.json"),
        web.get("/jwks.json"),
        web.post("/servicetitan/webhooks/accounts", data=b"{}"),
    ]

    for answer in answers:
        assert "Cookie" not in answer.headers.get("Vary", ""), answer.request.path
        assert "Set-Cookie" not in answer.headers, answer.request.path


def test_a_request_without_a_cookie_builds_no_signer(clean_app, monkeypatch):
    """The session interface the application ends up with (the partner API replaces the
    first) keeps the shortcut for requests without a cookie: every back-channel request."""

    def no_signer(*args):
        raise AssertionError("the cookie's signer was built")

    monkeypatch.setattr(type(clean_app.session_interface), "get_signing_serializer", no_signer)
    assert clean_app.test_client().get("/.well-known/openid-configuration?x=1").status_code == 200
