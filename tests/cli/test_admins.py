"""flask admins create: partner admins, who are never tenant users."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import verify_password
from oidc_provider.core.models import Admin, TenantUser

ADMIN_PASSWORD = "admin password 1"


def create_admin(runner, email="admin@partner.example", password=ADMIN_PASSWORD, *options):
    return runner.invoke(args=["admins", "create", "--email", email, "--password", password, *options])


def admins(app) -> list[Admin]:
    with app.app_context():
        rows = list(db.session.scalars(select(Admin)))
        db.session.expunge_all()
        return rows


def test_create_stores_the_admin_with_a_hashed_password(runner, clean_app):
    result = create_admin(runner, "Admin@Partner.Example", ADMIN_PASSWORD, "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    [admin] = admins(clean_app)
    assert data == {"email": "admin@partner.example", "id": admin.id}
    assert admin.email == "admin@partner.example"
    assert admin.password_hash.startswith("$argon2id$")
    assert verify_password(admin.password_hash, ADMIN_PASSWORD)
    with clean_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TenantUser)) == 0


def test_without_json_the_result_is_a_sentence(runner):
    result = create_admin(runner)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "created admin admin@partner.example"


def test_the_password_is_asked_for_when_not_given(runner, clean_app):
    result = runner.invoke(
        args=["admins", "create", "--email", "admin@partner.example"], input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n"
    )

    assert result.exit_code == 0, result.output
    assert ADMIN_PASSWORD not in result.output
    assert verify_password(admins(clean_app)[0].password_hash, ADMIN_PASSWORD)


def test_a_second_admin_with_the_same_email_is_refused(runner, clean_app):
    assert create_admin(runner).exit_code == 0

    result = create_admin(runner, "ADMIN@partner.example", "another password")

    assert result.exit_code == 1
    assert "an admin with email 'admin@partner.example' already exists" in result.stderr
    assert len(admins(clean_app)) == 1
    assert verify_password(admins(clean_app)[0].password_hash, ADMIN_PASSWORD)


@pytest.mark.parametrize("email", ["admin", "admin@", "@partner.example", "ad min@partner.example", "admin@partner"])
def test_a_bad_email_is_refused(runner, clean_app, email):
    result = create_admin(runner, email, ADMIN_PASSWORD, "--json")

    assert result.exit_code == 1
    assert "is not an email address" in result.stderr
    assert result.stdout == ""
    assert admins(clean_app) == []


def test_a_short_password_is_refused(runner, clean_app):
    result = create_admin(runner, "admin@partner.example", "1234567")

    assert result.exit_code == 1
    assert "the password needs at least 8 characters" in result.stderr
    assert admins(clean_app) == []


def test_an_admin_cannot_sign_in_on_the_tenant_page(runner, clean_app, make, web):
    make.directory()
    assert create_admin(runner).exit_code == 0
    login_page = web.get("/login")
    csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text).group(1)

    answer = web.post(
        "/login",
        data={
            "csrf_token": csrf_token,
            "email": "admin@partner.example",
            "password": ADMIN_PASSWORD,
        },
    )

    assert answer.status_code == 401
    assert "The email or password is incorrect." in answer.text
    assert "Location" not in answer.headers
    home = web.get("/")
    assert home.status_code == 200
    assert "You are signed in" not in home.text


def test_list_disable_enable_reset_password_and_remove(runner, clean_app, make):
    make.admin("first@partner.example")
    make.admin("second@partner.example")

    listed = json.loads(runner.invoke(args=["admins", "list", "--json"]).stdout)
    assert [(a["email"], a["active"]) for a in listed] == [
        ("first@partner.example", True),
        ("second@partner.example", True),
    ]

    disabled = runner.invoke(args=["admins", "disable", "second@partner.example", "--json"])
    assert disabled.exit_code == 0, disabled.output
    assert json.loads(disabled.stdout)["active"] is False
    refused = runner.invoke(args=["admins", "disable", "first@partner.example"])
    assert refused.exit_code == 1
    assert "last active admin" in refused.output
    refused_removal = runner.invoke(args=["admins", "remove", "first@partner.example", "--yes"])
    assert refused_removal.exit_code == 1
    assert "last active admin" in refused_removal.output

    assert runner.invoke(args=["admins", "enable", "second@partner.example"]).exit_code == 0
    reset = runner.invoke(
        args=["admins", "reset-password", "second@partner.example", "--password", "new long password"]
    )
    assert reset.exit_code == 0, reset.output
    with clean_app.app_context():
        second = db.session.scalar(select(Admin).where(Admin.email == "second@partner.example"))
        assert verify_password(second.password_hash, "new long password")
        assert second.session_version == 2  # once disabled, once given a new password

    cancelled = runner.invoke(args=["admins", "remove", "second@partner.example"], input="n\n")
    assert cancelled.exit_code == 1
    assert len(admins(clean_app)) == 2
    removed = runner.invoke(args=["admins", "remove", "second@partner.example"], input="y\n")
    assert removed.exit_code == 0, removed.output
    assert [a.email for a in admins(clean_app)] == ["first@partner.example"]


def test_an_unknown_admin_is_named(runner, clean_app):
    result = runner.invoke(args=["admins", "disable", "nobody@partner.example"])

    assert result.exit_code == 1
    assert "no admin with email 'nobody@partner.example'" in result.output
