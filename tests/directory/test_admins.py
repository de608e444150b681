"""Partner admins' rules: never the last active admin; sessions end on disabling and on a
new password; every change audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import verify_password
from oidc_provider.core.models import Admin, AuditEvent
from oidc_provider.directory import admins


@pytest.fixture
def two(make):
    return make.admin("first@partner.example"), make.admin("second@partner.example")


def version(admin_id: int) -> int:
    return db.session.get(Admin, admin_id).session_version


def test_create_refuses_a_bad_email_a_short_password_and_a_duplicate(clean_app, two):
    with clean_app.app_context():
        with pytest.raises(admins.AdminRefused) as refused:
            admins.create_admin("not an email", "short", "test")
        assert [p.where for p in refused.value.problems] == ["email", "password"]
        with pytest.raises(admins.AdminRefused, match="already exists"):
            admins.create_admin("First@Partner.Example", "long enough password", "test")
        made = admins.create_admin("Third@Partner.Example", "long enough password", "test")
        assert made.email == "third@partner.example" and made.active


def test_the_last_active_admin_can_be_neither_disabled_nor_removed(clean_app, two):
    first, second = two
    with clean_app.app_context():
        admins.disable(db.session.get(Admin, second), "test")
        last = db.session.get(Admin, first)
        for change in (admins.disable, admins.remove):
            with pytest.raises(admins.AdminRefused, match="last active admin"):
                change(last, "test")
        assert db.session.get(Admin, first).active
        # A disabled admin may be removed: it leaves the active one alone.
        admins.remove(db.session.get(Admin, second), "test")
        assert [a.email for a in admins.admins()] == ["first@partner.example"]


def test_disabling_and_a_new_password_raise_the_session_version(clean_app, two):
    first, second = two
    with clean_app.app_context():
        admins.reset_password(db.session.get(Admin, first), "a new long password", "test")
        assert version(first) == 1
        assert verify_password(db.session.get(Admin, first).password_hash, "a new long password")
        admins.disable(db.session.get(Admin, first), "test")
        assert version(first) == 2
        admins.enable(db.session.get(Admin, first), "test")
        assert version(first) == 2 and db.session.get(Admin, first).active
        assert version(second) == 0
        kinds = list(db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)))
        assert kinds == ["admin_password_reset", "admin_disabled", "admin_enabled"]


def test_a_short_new_password_is_refused_and_changes_nothing(clean_app, two):
    first, _ = two
    with clean_app.app_context():
        with pytest.raises(admins.AdminRefused, match="at least 8"):
            admins.reset_password(db.session.get(Admin, first), "short", "test")
        assert version(first) == 0
