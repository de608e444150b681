"""Admin sign-in at /admin/login: its labels, its one error message, CSRF, throttling, the
idle timeout, sign-out, and tenant users who are never admins."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent, TenantUser
from tests.console import csrf_token, sign_in_as
from tests.factories import PASSWORD

ADMIN = "admin@partner.example"


@pytest.fixture
def admin(make) -> int:
    return make.admin(ADMIN)


def sign_in(web, email=ADMIN, password=PASSWORD, next_path=None, address="127.0.0.1"):
    environ = {"REMOTE_ADDR": address}
    page = web.get("/admin/login" + (f"?next={quote(next_path)}" if next_path else ""), environ_overrides=environ)
    data = {"csrf_token": csrf_token(page.text), "email": email, "password": password}
    if next_path is not None:
        data["next"] = next_path
    return web.post("/admin/login", data=data, environ_overrides=environ)


def kinds(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)))


def test_the_sign_in_page_has_the_tenant_pages_labels(web):
    page = web.get("/admin/login")

    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert '<label for="email">Email</label>' in page.text
    assert '<label for="password">Password</label>' in page.text
    assert '<button type="submit">Sign in</button>' in page.text


def test_an_admin_signs_in_and_reaches_the_console(clean_app, web, admin):
    response = sign_in(web)

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    home = web.get("/admin/")
    assert home.status_code == 200
    assert ADMIN in home.text
    assert kinds(clean_app) == ["admin_signed_in"]


def test_sign_in_returns_to_the_console_page_asked_for(web, admin):
    assert sign_in(web, next_path="/admin/pairings?status=PROCESSING").headers["Location"] == (
        "/admin/pairings?status=PROCESSING"
    )


@pytest.mark.parametrize("next_path", ["https://evil.example/admin", "//evil.example/admin", "/login", "/admin\\@evil"])
def test_sign_in_never_returns_outside_the_console(web, admin, next_path):
    assert sign_in(web, next_path=next_path).headers["Location"] == "/admin/"


@pytest.mark.parametrize(
    "next_path",
    ["/admin/\r\nSet-Cookie: planted=1", "/admin/clients\n", "/admin/\rx", "/admin/\t/evil.example", "/admin/\x7f"],
)
def test_a_next_with_a_line_break_or_control_character_is_ignored_not_a_500(web, admin, next_path):
    page = web.get("/admin/login?next=" + quote(next_path))
    assert page.status_code == 200
    assert "planted" not in page.text

    response = sign_in(web, next_path=next_path)

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert "planted" not in str(response.headers)


@pytest.mark.parametrize("email", [ADMIN, "nobody@partner.example"])
def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(clean_app, web, admin, email):
    response = sign_in(web, email=email, password="not the password")

    assert response.status_code == 401
    assert "The email or password is incorrect." in response.text
    assert web.get("/admin/").status_code == 302
    with clean_app.app_context():
        [event] = db.session.scalars(select(AuditEvent)).all()
        assert (event.kind, event.detail["realm"], event.detail["email"]) == ("sign_in_failed", "admin", email)


def test_a_tenant_user_cannot_sign_in_as_an_admin(clean_app, web, make):
    """Tenant users live in another table: their credentials open nothing here."""
    make.directory()

    response = sign_in(web, email="owner@mtech.example")

    assert response.status_code == 401
    assert web.get("/admin/").status_code == 302


def test_signing_in_as_an_admin_ends_a_tenant_session(clean_app, web, make, admin):
    make.directory()
    with clean_app.app_context():
        owner = db.session.scalar(select(TenantUser.id).where(TenantUser.email == "owner@mtech.example"))
    sign_in_as(web, f"tenant:{owner}")

    sign_in(web)

    with web.session_transaction() as session:
        assert session["_user_id"] == f"admin:{admin}"


def test_sign_in_without_its_csrf_token_is_refused(clean_app, web, admin):
    response = web.post("/admin/login", data={"email": ADMIN, "password": PASSWORD})

    assert response.status_code == 400
    assert web.get("/admin/").status_code == 302
    assert kinds(clean_app) == []


def test_failed_sign_ins_are_throttled(clean_app, web, admin, monkeypatch):
    monkeypatch.setitem(clean_app.config, "SIGN_IN_LIMIT", "2 per 15 minutes")

    statuses = [sign_in(web, password="wrong", address="192.0.2.7").status_code for _ in range(2)]
    throttled = sign_in(web, address="192.0.2.7")

    assert statuses == [401, 401]
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert web.get("/admin/").status_code == 302  # the right password did not get through
    assert kinds(clean_app) == ["sign_in_failed", "sign_in_failed", "sign_in_throttled"]


def test_an_idle_admin_is_signed_out(clean_app, console, frozen_clock):
    assert console.get("/admin/clients").status_code == 200
    frozen_clock.advance(clean_app.config["ADMIN_IDLE_TIMEOUT"] - 1)
    assert console.get("/admin/clients").status_code == 200  # each request counts as activity
    frozen_clock.advance(clean_app.config["ADMIN_IDLE_TIMEOUT"] + 1)

    response = console.get("/admin/clients")

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?expired=1&next=/admin/clients"
    assert "left without activity too long" in console.get(response.headers["Location"]).text
    assert console.get("/admin/").status_code == 302
    assert kinds(clean_app)[-1] == "admin_session_expired"


def test_the_admin_session_ends_with_the_browser(web, admin):
    response = sign_in(web)

    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "Expires" not in cookie and "Max-Age" not in cookie


def test_sign_out_ends_the_session(clean_app, console):
    response = console.post("/admin/logout")

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login"
    assert console.get("/admin/").status_code == 302
    assert kinds(clean_app)[-1] == "admin_signed_out"
