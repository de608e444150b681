"""The Admins page: list, add, disable, enable, reset a password, remove; never the last
active admin; disabling and removing ask first."""

from __future__ import annotations

from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import verify_password
from oidc_provider.core.models import Admin


def admin_id(app, email: str) -> int | None:
    with app.app_context():
        return db.session.scalar(select(Admin.id).where(Admin.email == email))


def test_the_page_lists_admins_and_adds_one(clean_app, console):
    page = console.get("/admin/admins")
    assert page.status_code == 200
    assert "admin@partner.example" in page.text and "(you)" in page.text

    refused = console.post("/admin/admins", {"email": "bad", "password": "short"})
    assert refused.status_code == 422
    assert "is not an email address" in refused.text and "at least 8 characters" in refused.text

    added = console.post("/admin/admins", {"email": "New@Partner.Example", "password": "long enough password"})
    assert added.status_code == 302
    assert admin_id(clean_app, "new@partner.example") is not None


def test_disable_asks_first_then_signs_the_admin_out_and_enable_lets_them_in(clean_app, console, make):
    other = make.admin("other@partner.example")

    asked = console.post(f"/admin/admins/{other}/disable")
    assert asked.status_code == 200
    assert "Disable admin other@partner.example?" in asked.text
    with clean_app.app_context():
        assert db.session.get(Admin, other).active

    assert console.post(f"/admin/admins/{other}/disable", {"confirmed": "yes"}).status_code == 302
    with clean_app.app_context():
        assert not db.session.get(Admin, other).active
        assert db.session.get(Admin, other).session_version == 1
    assert console.post(f"/admin/admins/{other}/enable").status_code == 302
    with clean_app.app_context():
        assert db.session.get(Admin, other).active


def test_the_last_active_admin_is_kept(clean_app, console):
    me = admin_id(clean_app, "admin@partner.example")

    for action in ("disable", "remove"):
        refused = console.post(f"/admin/admins/{me}/{action}", {"confirmed": "yes"})
        assert refused.status_code == 422
        assert "is the last active admin" in refused.text
    assert admin_id(clean_app, "admin@partner.example") == me


def test_a_new_password_is_set_and_a_short_one_refused(clean_app, console, make):
    other = make.admin("other@partner.example")

    refused = console.post(f"/admin/admins/{other}/password", {"new_password": "short"})
    assert refused.status_code == 422
    assert "other@partner.example: the password needs at least 8 characters" in refused.text

    assert console.post(f"/admin/admins/{other}/password", {"new_password": "a new long password"}).status_code == 302
    with clean_app.app_context():
        assert verify_password(db.session.get(Admin, other).password_hash, "a new long password")


def test_remove_asks_first_and_removes(clean_app, console, make):
    other = make.admin("other@partner.example")

    asked = console.post(f"/admin/admins/{other}/remove")
    assert "Remove admin other@partner.example?" in asked.text
    assert admin_id(clean_app, "other@partner.example") == other

    assert console.post(f"/admin/admins/{other}/remove", {"confirmed": "yes"}).status_code == 302
    assert admin_id(clean_app, "other@partner.example") is None
