"""The tenant directory in the console: accounts and profiles, users and their accounts,
eligibility, password resets, import and export — by the rules of ``directory import``."""

from __future__ import annotations

import csv
import html
import io
import json

import pytest
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Account, AuditEvent, Profile, TenantUser
from oidc_provider.directory.store import DatabaseDirectory
from tests.factories import PASSWORD
from tests.web.admin.test_clients import field_error


@pytest.fixture
def directory(make):
    return make.directory()


def account(app, account_id) -> dict | None:
    with app.app_context():
        row = db.session.get(Account, account_id)
        if row is None:
            return None
        return {"name": row.name, "eligible": row.eligible, "profiles": [(p.id, p.name) for p in row.profiles]}


def user(app, email) -> dict | None:
    with app.app_context():
        row = db.session.scalar(select(TenantUser).where(TenantUser.email == email))
        if row is None:
            return None
        return {
            "id": row.id,
            "name": row.name,
            "accounts": sorted(a.id for a in row.accounts),
            "password_hash": row.password_hash,
        }


def error_of(response, field_id) -> str:
    return html.unescape(field_error(response.text, field_id) or "")


# -- accounts -------------------------------------------------------------------------------


def test_accounts_are_listed_with_their_profiles_and_searched(console, directory):
    page = console.get("/admin/accounts").text
    assert "MTech HVAC" in page and "<code>p-north</code>" in page and "Not eligible" in page
    assert "1–3 of 3" in page

    found = console.get("/admin/accounts?q=plumb").text
    assert "MTech Plumbing" in found and "MTech HVAC" not in found
    assert "Closed Branch" in console.get("/admin/accounts?eligible=no").text
    assert "Closed Branch" not in console.get("/admin/accounts?eligible=yes").text
    assert "Nothing to show" in console.get("/admin/accounts?q=100%25_").text


def test_an_account_is_created_with_its_profiles(clean_app, console, directory):
    response = console.post(
        "/admin/accounts/new",
        {
            "id": "acct-roof",
            "name": "MTech Roofing",
            "eligible": "on",
            "profiles": "p-roof-east, East\n\np-roof-west,West",
        },
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/accounts/acct-roof?saved=1"
    assert account(clean_app, "acct-roof") == {
        "name": "MTech Roofing",
        "eligible": True,
        "profiles": [("p-roof-east", "East"), ("p-roof-west", "West")],
    }
    with clean_app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "account_saved"))
        assert (event.actor, event.detail["account_id"]) == (console.email, "acct-roof")


def test_an_account_is_edited_and_a_removed_profile_goes(clean_app, console, directory):
    page = console.get("/admin/accounts/acct-hvac").text
    assert "p-north, North\np-south, South</textarea>" in page

    console.post(
        "/admin/accounts/acct-hvac", {"name": "MTech Heating", "eligible": "on", "profiles": "p-north, North Side"}
    )

    assert account(clean_app, "acct-hvac") == {
        "name": "MTech Heating",
        "eligible": True,
        "profiles": [("p-north", "North Side")],
    }
    with clean_app.app_context():
        assert db.session.get(Profile, "p-south") is None


@pytest.mark.parametrize(
    ("form", "field_id", "message"),
    [
        ({"id": "acct hvac"}, "account-id", "'acct hvac' must be 1 to 128 letters, digits, '_' or '-'"),
        ({"id": "acct-hvac"}, "account-id", "an account with id 'acct-hvac' already exists"),
        ({"name": ""}, "account-name", "must be a non-empty string"),
        ({"name": "x" * 129}, "account-name", "at most 128 characters (has 129)"),
        (
            {"profiles": "p-north, Taken"},
            "account-profiles",
            "profile 'p-north' already belongs to account 'acct-hvac' in the directory",
        ),
        (
            {"profiles": "p-a, A\np-a, Again"},
            "account-profiles",
            "line 2: profile 'p-a' is already used by account 'acct-new' (ServiceTitan refuses duplicate profiles, 15304)",
        ),
        ({"profiles": "p-b"}, "account-profiles", "line 1: must be a non-empty string"),
    ],
)
def test_a_new_account_is_checked_by_the_import_rules(clean_app, console, directory, form, field_id, message):
    response = console.post("/admin/accounts/new", {"id": "acct-new", "name": "New", "eligible": "on", **form})

    assert response.status_code == 422
    assert error_of(response, field_id) == message
    assert account(clean_app, "acct-new") is None
    assert account(clean_app, "acct-hvac")["name"] == "MTech HVAC"


def test_a_refused_account_edit_changes_nothing(clean_app, console, directory):
    response = console.post(
        "/admin/accounts/acct-hvac", {"name": "", "eligible": "on", "profiles": "p-north, North\np-main, Taken"}
    )

    assert response.status_code == 422
    assert error_of(response, "account-name") == "must be a non-empty string"
    assert error_of(response, "account-profiles") == (
        "profile 'p-main' already belongs to account 'acct-plumbing' in the directory"
    )
    assert "p-north, North\np-main, Taken</textarea>" in response.text
    assert account(clean_app, "acct-hvac") == {
        "name": "MTech HVAC",
        "eligible": True,
        "profiles": [("p-north", "North"), ("p-south", "South")],
    }


def test_an_account_is_marked_not_eligible_and_back(clean_app, console, directory):
    response = console.post("/admin/accounts/acct-hvac/eligibility", {"eligible": "no"})

    assert response.status_code == 302
    assert account(clean_app, "acct-hvac")["eligible"] is False
    assert "Mark eligible" in console.get("/admin/accounts/acct-hvac").text
    console.post("/admin/accounts/acct-hvac/eligibility", {"eligible": "yes"})
    assert account(clean_app, "acct-hvac")["eligible"] is True
    assert console.get("/admin/accounts/acct-none").status_code == 404


def test_a_not_eligible_account_is_then_declined(console, directory, flows, make):
    console.post("/admin/accounts/acct-hvac/eligibility", {"eligible": "no"})
    client = make.client()

    tokens = flows.tokens(client)

    assert flows.account_info(tokens["access_token"]).json["Status"] == "DECLINED"


# -- users ----------------------------------------------------------------------------------


def test_users_are_listed_with_their_accounts_and_searched(console, directory):
    page = console.get("/admin/users").text
    assert "manager@mtech.example" in page and "MTech Plumbing <code>acct-plumbing</code>" in page
    found = console.get("/admin/users?q=OWNER").text
    assert "owner@mtech.example" in found and "manager@mtech.example" not in found


def test_a_user_is_created_and_can_sign_in(clean_app, console, directory, flows, make):
    response = console.post(
        "/admin/users/new",
        {
            "email": " New@MTech.example ",
            "name": "New",
            "accounts": "acct-hvac, acct-plumbing",
            "password": "a long password",
        },
    )

    assert response.status_code == 302
    created = user(clean_app, "new@mtech.example")
    assert created["accounts"] == ["acct-hvac", "acct-plumbing"]
    assert response.headers["Location"] == f"/admin/users/{created['id']}?saved=1"
    with clean_app.app_context():
        assert DatabaseDirectory().authenticate("new@mtech.example", "a long password") is not None


@pytest.mark.parametrize(
    ("form", "field_id", "message"),
    [
        ({"email": "not-an-email"}, "user-email", "must be an email address"),
        ({"email": "owner@mtech.example"}, "user-email", "'owner@mtech.example' is already another user's email"),
        ({"accounts": "acct-hvac acct-gone"}, "user-accounts", "no account 'acct-gone' in the file or the directory"),
        ({"password": "short"}, "user-password", "at least 8 characters"),
        ({"password": ""}, "user-password", "give a new user a password of at least 8 characters"),
    ],
)
def test_a_new_user_is_checked_by_the_import_rules(clean_app, console, directory, make, form, field_id, message):
    before = make.count(TenantUser)
    response = console.post(
        "/admin/users/new",
        {"email": "new@mtech.example", "accounts": "acct-hvac", "password": "a long password", **form},
    )

    assert response.status_code == 422
    assert error_of(response, field_id) == message
    assert make.count(TenantUser) == before


def test_a_user_is_edited_email_included(clean_app, console, directory):
    owner = user(clean_app, "owner@mtech.example")

    response = console.post(
        f"/admin/users/{owner['id']}",
        {"email": "owner@mtech.test", "name": "The Owner", "accounts": "acct-hvac acct-plumbing"},
    )

    assert response.status_code == 302
    edited = user(clean_app, "owner@mtech.test")
    assert (edited["id"], edited["name"], edited["accounts"]) == (
        owner["id"],
        "The Owner",
        ["acct-hvac", "acct-plumbing"],
    )
    assert edited["password_hash"] == owner["password_hash"]  # an edit does not touch the password


def test_a_refused_edit_changes_nothing(clean_app, console, directory):
    owner = user(clean_app, "owner@mtech.example")

    response = console.post(f"/admin/users/{owner['id']}", {"email": "owner@mtech.test", "accounts": "acct-gone"})

    assert response.status_code == 422
    assert error_of(response, "user-accounts") == "no account 'acct-gone' in the file or the directory"
    assert user(clean_app, "owner@mtech.test") is None
    assert user(clean_app, "owner@mtech.example")["accounts"] == ["acct-hvac"]


def test_a_password_reset(clean_app, console, directory):
    owner = user(clean_app, "owner@mtech.example")

    short = console.post(f"/admin/users/{owner['id']}/password", {"new_password": "short"})
    assert short.status_code == 422
    assert error_of(short, "reset-new_password") == "at least 8 characters"

    done = console.post(f"/admin/users/{owner['id']}/password", {"new_password": "a brand new password"})
    assert done.status_code == 200
    assert "The password was reset." in done.text
    with clean_app.app_context():
        assert DatabaseDirectory().authenticate("owner@mtech.example", PASSWORD) is None
        assert DatabaseDirectory().authenticate("owner@mtech.example", "a brand new password") is not None
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "tenant_password_reset"))
        assert "a brand new password" not in json.dumps(event.detail)


# -- import and export ------------------------------------------------------------------------


def upload(console, name: str, content: str | bytes):
    data = content.encode() if isinstance(content, str) else content
    return console.post(
        "/admin/directory/import", {"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def test_export_is_the_import_shape_with_password_hashes(clean_app, console, directory):
    response = console.get("/admin/directory/export.json")

    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="directory.json"'
    document = response.json
    assert document["accounts"][0] == {
        "id": "acct-closed",
        "name": "Closed Branch",
        "eligible": False,
        "profiles": [{"id": "p-closed", "name": "Closed"}],
    }
    manager = next(u for u in document["users"] if u["email"] == "manager@mtech.example")
    assert manager["accounts"] == ["acct-closed", "acct-hvac", "acct-plumbing"]
    assert manager["password_hash"].startswith("$argon2")
    assert all("password" not in u for u in document["users"])
    with clean_app.app_context():
        assert db.session.scalar(select(AuditEvent.detail).where(AuditEvent.kind == "directory_exported"))["file"] == (
            "directory.json"
        )


def test_an_export_imports_back_to_the_same_directory(clean_app, console, directory):
    exported = console.get("/admin/directory/export.json").json
    with clean_app.app_context():
        for table in ("user_accounts", "tenant_users", "profiles", "accounts"):
            db.session.execute(db.metadata.tables[table].delete())
        db.session.commit()

    response = upload(console, "directory.json", json.dumps(exported))

    assert response.status_code == 200
    assert "Imported 3 accounts, 4 profiles and 4 users." in response.text
    assert console.get("/admin/directory/export.json").json == exported
    with clean_app.app_context():
        assert DatabaseDirectory().authenticate("owner@mtech.example", PASSWORD) is not None


def test_the_csv_exports_import_back(clean_app, console, directory):
    accounts = console.get("/admin/directory/accounts.csv")
    users = console.get("/admin/directory/users.csv")
    assert accounts.mimetype == users.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(accounts.text)))
    assert rows[0] == ["account_id", "account_name", "eligible", "profile_id", "profile_name"]
    assert ["acct-hvac", "MTech HVAC", "true", "p-north", "North"] in rows
    user_rows = list(csv.reader(io.StringIO(users.text)))
    assert user_rows[0] == ["email", "name", "password_hash", "accounts"]
    assert "correct horse battery" not in users.text

    before = console.get("/admin/directory/export.json").json
    assert upload(console, "accounts.csv", accounts.text).status_code == 200
    assert upload(console, "users.csv", users.text).status_code == 200
    assert console.get("/admin/directory/export.json").json == before


def test_formula_cells_are_neutralised_in_the_csv_exports_and_import_back(clean_app, console):
    hostile = {'=HYPERLINK("https://evil.example")': "acct-a", "@SUM(A1:A9)": "acct-b", "+cmd|x": "acct-c"}
    document = {
        "accounts": [
            {"id": account_id, "name": name, "profiles": [{"id": f"p-{account_id}", "name": "-1+1"}]}
            for name, account_id in hostile.items()
        ],
        "users": [{"email": "owner@mtech.example", "name": "=1+1", "accounts": list(hostile.values())}],
    }
    assert upload(console, "directory.json", json.dumps(document)).status_code == 200
    before = console.get("/admin/directory/export.json").json

    accounts = console.get("/admin/directory/accounts.csv").text
    users = console.get("/admin/directory/users.csv").text

    for text in (accounts, users):
        cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
        assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert "'=HYPERLINK(" in accounts and "'=1+1" in users
    assert upload(console, "accounts.csv", accounts).status_code == 200
    assert upload(console, "users.csv", users).status_code == 200
    assert console.get("/admin/directory/export.json").json == before


def test_a_csv_of_users_may_carry_passwords(clean_app, console, directory):
    response = upload(
        console, "new-users.csv", "email,name,password,accounts\nnew@mtech.example,New,a long password,acct-hvac\n"
    )

    assert response.status_code == 200
    with clean_app.app_context():
        assert DatabaseDirectory().authenticate("new@mtech.example", "a long password") is not None


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("d.json", "{not json", "d.json is not valid JSON: Expecting property name enclosed in double quotes"),
        (
            "d.json",
            json.dumps({"accounts": [{"id": "bad id", "name": ""}], "users": [{"email": "x"}]}),
            "accounts[0].id: &#39;bad id&#39; must be 1 to 128 letters, digits, &#39;_&#39; or &#39;-&#39;",
        ),
        (
            "d.csv",
            "who,what\n1,2\n",
            "line 1: the header must be account_id,account_name,eligible,profile_id,profile_name",
        ),
        (
            "d.csv",
            "account_id,account_name,eligible,profile_id,profile_name\nacct-x,X,maybe,,\n",
            "line 2: eligible must be true or false, not &#39;maybe&#39;",
        ),
        ("d.json", b"\xff\xfe not utf-8", "d.json is not UTF-8 text"),
    ],
)
def test_a_bad_file_is_refused_whole(clean_app, console, directory, name, content, problem):
    before = console.get("/admin/directory/export.json").json

    response = upload(console, name, content)

    assert response.status_code == 422
    assert "was not imported" in response.text
    assert problem in response.text
    assert console.get("/admin/directory/export.json").json == before


def test_every_problem_of_a_file_is_listed(console, directory):
    users = [{"email": f"bad{n}", "accounts": []} for n in range(120)]

    response = upload(console, "d.json", json.dumps({"users": users}))

    assert "The file was not imported (120 problems)" in response.text
    assert "…and 20 more." in response.text


def test_import_without_a_file(console):
    response = console.post("/admin/directory/import", {}, content_type="multipart/form-data")

    assert response.status_code == 422
    assert "choose a .json or .csv file" in response.text


@pytest.mark.parametrize("depth", [500, 5_000, 100_000])
def test_an_import_nested_too_deep_is_refused_with_a_message(clean_app, console, depth):
    response = upload(console, "directory.json", '{"accounts": ' + "[" * depth + "]" * depth + "}")

    assert response.status_code == 422
    assert "the document is nested deeper than 32 levels" in response.text
