"""flask directory import: the file's shape, upserts, every problem listed, nothing half-written."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import hash_password
from oidc_provider.core.models import Account, AuditEvent, Profile, TenantUser, user_accounts
from oidc_provider.directory.store import DatabaseDirectory

PASSWORD = "owner-password-1"

# The issue's example file, with a real password.
EXAMPLE = {
    "accounts": [
        {"id": "acct-1", "name": "MTech HVAC", "eligible": True, "profiles": [{"id": "p-1", "name": "North"}]}
    ],
    "users": [{"email": "owner@mtech.example", "password": PASSWORD, "name": "Owner", "accounts": ["acct-1"]}],
}


@pytest.fixture
def write(tmp_path):
    def write(document, name="directory.json") -> str:
        path = tmp_path / name
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        return str(path)

    return write


def import_file(runner, path, *options):
    return runner.invoke(args=["directory", "import", path, *options])


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            "accounts": db.session.scalar(select(func.count()).select_from(Account)),
            "profiles": db.session.scalar(select(func.count()).select_from(Profile)),
            "users": db.session.scalar(select(func.count()).select_from(TenantUser)),
            "memberships": db.session.scalar(select(func.count()).select_from(user_accounts)),
        }


def test_the_issues_example_file_is_imported(runner, clean_app, write):
    result = import_file(runner, write(EXAMPLE), "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"accounts": 1, "profiles": 1, "users": 1}
    with clean_app.app_context():
        account = db.session.get(Account, "acct-1")
        assert (account.name, account.eligible) == ("MTech HVAC", True)
        assert [(p.id, p.name) for p in account.profiles] == [("p-1", "North")]
        user = DatabaseDirectory().authenticate("owner@mtech.example", PASSWORD)
        assert user is not None and user.name == "Owner"
        assert [a.id for a in user.accounts] == ["acct-1"]
        assert user.password_hash.startswith("$argon2id$")


def test_without_json_the_result_is_a_sentence(runner, write):
    result = import_file(runner, write(EXAMPLE))

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "imported 1 accounts, 1 profiles, 1 users"


def test_eligible_defaults_to_true(runner, clean_app, write):
    document = {"accounts": [{"id": "acct-1", "name": "MTech HVAC"}], "users": []}

    assert import_file(runner, write(document)).exit_code == 0
    with clean_app.app_context():
        assert db.session.get(Account, "acct-1").eligible is True


def test_a_not_eligible_account_is_kept_as_such(runner, clean_app, write):
    document = {"accounts": [{"id": "acct-1", "name": "MTech HVAC", "eligible": False}]}

    assert import_file(runner, write(document)).exit_code == 0
    with clean_app.app_context():
        assert db.session.get(Account, "acct-1").eligible is False


def test_a_password_hash_is_accepted_instead_of_a_password(runner, clean_app, write):
    document = {
        **EXAMPLE,
        "users": [
            {
                "email": "owner@mtech.example",
                "password_hash": hash_password(PASSWORD),
                "name": "Owner",
                "accounts": ["acct-1"],
            }
        ],
    }

    result = import_file(runner, write(document))

    assert result.exit_code == 0, result.output
    with clean_app.app_context():
        assert DatabaseDirectory().authenticate("owner@mtech.example", PASSWORD) is not None


def test_importing_twice_updates_and_does_not_duplicate(runner, clean_app, write):
    assert import_file(runner, write(EXAMPLE)).exit_code == 0
    before = counts(clean_app)
    renamed = {
        "accounts": [
            {
                "id": "acct-1",
                "name": "MTech Heating",
                "eligible": False,
                "profiles": [{"id": "p-1", "name": "North Side"}],
            }
        ],
        "users": [{"email": "Owner@MTech.example", "name": "The Owner", "accounts": ["acct-1"]}],
    }

    result = import_file(runner, write(renamed, "second.json"))

    assert result.exit_code == 0, result.output
    assert counts(clean_app) == before == {"accounts": 1, "profiles": 1, "users": 1, "memberships": 1}
    with clean_app.app_context():
        account = db.session.get(Account, "acct-1")
        assert (account.name, account.eligible, account.profiles[0].name) == ("MTech Heating", False, "North Side")
        user = db.session.scalar(select(TenantUser))
        assert user.name == "The Owner"
        # A user without password in the second file keeps the one set by the first.
        assert DatabaseDirectory().authenticate("owner@mtech.example", PASSWORD) is not None


def test_accounts_named_by_a_user_may_already_be_in_the_directory(runner, clean_app, write):
    assert import_file(runner, write(EXAMPLE)).exit_code == 0
    document = {"users": [{"email": "second@mtech.example", "password": PASSWORD, "accounts": ["acct-1"]}]}

    result = import_file(runner, write(document, "users.json"))

    assert result.exit_code == 0, result.output
    assert counts(clean_app)["memberships"] == 2


@pytest.mark.parametrize("bad_id", ["", "acct 1", "acct/1", "acct.1", "äcct", "a" * 129, 17, None])
def test_account_ids_must_be_1_to_128_letters_digits_underscore_or_dash(runner, clean_app, write, bad_id):
    document = {"accounts": [{"id": bad_id, "name": "MTech HVAC"}]}

    result = import_file(runner, write(document))

    assert result.exit_code == 1
    assert "accounts[0].id" in result.stderr
    assert counts(clean_app)["accounts"] == 0


def test_ids_of_128_allowed_characters_are_accepted(runner, clean_app, write):
    account_id, profile_id = "A_b-9" * 25 + "xyz", "P" * 128
    document = {"accounts": [{"id": account_id, "name": "N" * 128, "profiles": [{"id": profile_id, "name": "x"}]}]}

    result = import_file(runner, write(document))

    assert result.exit_code == 0, result.output
    with clean_app.app_context():
        assert db.session.get(Profile, profile_id).account_id == account_id


def test_profile_ids_and_names_are_checked_like_accounts(runner, clean_app, write):
    document = {
        "accounts": [
            {
                "id": "acct-1",
                "name": "MTech",
                "profiles": [{"id": "p 1", "name": "North"}, {"id": "p-2", "name": "x" * 129}],
            }
        ]
    }

    result = import_file(runner, write(document))

    assert result.exit_code == 1
    assert "accounts[0].profiles[0].id" in result.stderr
    assert "accounts[0].profiles[1].name: at most 128 characters (has 129)" in result.stderr
    assert counts(clean_app)["accounts"] == 0


def test_names_are_at_most_128_characters(runner, clean_app, write):
    document = {"accounts": [{"id": "acct-1", "name": "x" * 129}]}

    result = import_file(runner, write(document))

    assert result.exit_code == 1
    assert "accounts[0].name: at most 128 characters (has 129)" in result.stderr


def test_a_profile_id_used_twice_in_the_file_is_refused(runner, clean_app, write):
    document = {
        "accounts": [
            {"id": "acct-1", "name": "One", "profiles": [{"id": "p-1", "name": "North"}]},
            {"id": "acct-2", "name": "Two", "profiles": [{"id": "p-1", "name": "South"}]},
        ]
    }

    result = import_file(runner, write(document))

    assert result.exit_code == 1
    assert "accounts[1].profiles[0].id: profile 'p-1' is already used by account 'acct-1'" in result.stderr
    assert "15304" in result.stderr
    assert counts(clean_app)["accounts"] == 0


def test_a_profile_id_of_another_account_in_the_database_is_refused(runner, clean_app, write):
    assert import_file(runner, write(EXAMPLE)).exit_code == 0
    before = counts(clean_app)
    document = {"accounts": [{"id": "acct-2", "name": "Two", "profiles": [{"id": "p-1", "name": "Stolen"}]}]}

    result = import_file(runner, write(document, "clash.json"))

    assert result.exit_code == 1
    assert "profile 'p-1' already belongs to account 'acct-1'" in result.stderr
    assert counts(clean_app) == before
    with clean_app.app_context():
        assert db.session.get(Profile, "p-1").name == "North"


def test_a_bad_file_is_refused_whole_with_every_problem_listed(runner, clean_app, write):
    assert import_file(runner, write(EXAMPLE)).exit_code == 0
    before = counts(clean_app)
    document = {
        "accounts": [
            {"id": "acct-1", "name": "Renamed, but must not be"},
            {"id": "bad id", "name": "Bad"},
            {"id": "acct-3", "name": ""},
            {"id": "acct-4", "name": "Four", "eligible": "yes"},
        ],
        "users": [
            {"email": "new@mtech.example", "password": PASSWORD, "accounts": ["acct-1"]},
            {"email": "not-an-email", "password": PASSWORD},
            {"email": "short@mtech.example", "password": "short"},
            {"email": "ghost@mtech.example", "password": PASSWORD, "accounts": ["acct-missing"]},
            {"email": "both@mtech.example", "password": PASSWORD, "password_hash": hash_password(PASSWORD)},
            {"email": "NEW@mtech.example", "password": PASSWORD},
        ],
        "groups": [],
    }

    result = import_file(runner, write(document, "bad.json"))

    assert result.exit_code == 1
    expected = [
        "unknown top-level key 'groups'",
        "accounts[1].id: 'bad id'",
        "accounts[2].name: must be a non-empty string",
        "accounts[3].eligible: must be true or false",
        "users[1].email: must be an email address",
        "users[2].password: at least 8 characters",
        "users[3].accounts: no account 'acct-missing'",
        "users[4]: give 'password' or 'password_hash', not both",
        "users[5].email: 'NEW@mtech.example' appears twice",
    ]
    for problem in expected:
        assert problem in result.stderr
    assert f"({len(expected)} problems)" in result.stderr
    assert counts(clean_app) == before
    with clean_app.app_context():
        assert db.session.get(Account, "acct-1").name == "MTech HVAC"


def test_a_password_hash_must_be_argon2(runner, clean_app, write):
    document = {"users": [{"email": "owner@mtech.example", "password_hash": "5f4dcc3b5aa765d61d8327deb882cf99"}]}

    result = import_file(runner, write(document))

    assert result.exit_code == 1
    assert "users[0].password_hash: must be an argon2 hash" in result.stderr
    assert counts(clean_app)["users"] == 0


@pytest.mark.parametrize(
    "content, named",
    [
        ("{not json", "is not valid JSON"),
        (b"\xff\xfe\x00garbage", "is not valid JSON"),
        ("", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"accounts": {}}', "accounts: must be a list"),
        ('{"users": "owner"}', "users: must be a list"),
        ('{"accounts": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested deeper than 32 levels"),
        ('{"accounts": [' + '{"a": ' * 500 + "1" + "}" * 500 + "]}", "nested deeper than 32 levels"),
        ('{"accounts": [{"id": "a", "name": "A", "profiles": [], "eligible": 1e999}]}', "the number is too large"),
    ],
)
def test_a_file_that_is_not_a_directory_document_is_refused(runner, clean_app, tmp_path, content, named):
    path = tmp_path / "directory.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())

    result = import_file(runner, str(path), "--json")

    assert result.exit_code == 1
    error = json.loads(result.stderr)
    assert named in " ".join([error["error"], *(f"{p['where']}: {p['message']}" for p in error["problems"])])
    assert result.stdout == ""
    assert counts(clean_app)["accounts"] == 0


def test_a_missing_file_is_a_usage_error(runner, tmp_path):
    result = import_file(runner, str(tmp_path / "missing.json"))

    assert result.exit_code == 2
    assert "missing.json" in result.stderr


@pytest.fixture(scope="module")
def large_document() -> dict:
    """300 users; one password hash shared, so the test does not spend minutes hashing."""
    shared_hash = hash_password(PASSWORD)
    accounts = [
        {"id": f"acct-{n}", "name": f"Account {n}", "profiles": [{"id": f"p-{n}", "name": "Main"}]} for n in range(30)
    ]
    users = [
        {
            "email": f"user{n}@mtech.example",
            "password_hash": shared_hash,
            "name": f"User {n}",
            "accounts": [f"acct-{n % 30}"],
        }
        for n in range(300)
    ]
    return {"accounts": accounts, "users": users}


def test_a_large_file_shows_progress_on_stderr(runner, clean_app, write, large_document):
    result = import_file(runner, write(large_document))

    assert result.exit_code == 0, result.output
    assert "Importing users" in result.stderr
    assert result.stdout.strip() == "imported 30 accounts, 30 profiles, 300 users"
    assert counts(clean_app) == {"accounts": 30, "profiles": 30, "users": 300, "memberships": 300}


def test_with_json_a_large_file_prints_only_the_json(runner, clean_app, write, large_document):
    result = import_file(runner, write(large_document), "--json")

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert json.loads(result.stdout) == {"accounts": 30, "profiles": 30, "users": 300}


# -- CSV, as the console takes it, and exports ----------------------------------------------

ACCOUNTS_CSV = "account_id,account_name,eligible,profile_id,profile_name\nacct-1,MTech HVAC,true,p-1,North\n"
USERS_CSV = f"email,name,password,accounts\nowner@mtech.example,Owner,{PASSWORD},acct-1\n"


def test_csv_files_are_imported_as_the_console_imports_them(runner, clean_app, write):
    accounts = import_file(runner, write(ACCOUNTS_CSV, "accounts.csv"), "--json")
    users = import_file(runner, write(USERS_CSV, "users.csv"), "--json")

    assert accounts.exit_code == 0, accounts.output
    assert json.loads(accounts.stdout) == {"accounts": 1, "profiles": 1, "users": 0}
    assert json.loads(users.stdout) == {"accounts": 0, "profiles": 0, "users": 1}
    with clean_app.app_context():
        user = DatabaseDirectory().authenticate("owner@mtech.example", PASSWORD)
        assert [a.id for a in user.accounts] == ["acct-1"]
        assert [(a.kind, a.actor) for a in db.session.scalars(select(AuditEvent))] == [
            ("directory_imported", "cli")
        ] * 2


def test_format_says_how_to_read_stdin(runner, clean_app):
    result = runner.invoke(args=["directory", "import", "-", "--format", "csv", "--json"], input=ACCOUNTS_CSV)

    assert result.exit_code == 0, result.output
    assert counts(clean_app)["profiles"] == 1


def test_a_bad_csv_file_lists_its_lines(runner, clean_app, write):
    bad = "account_id,account_name,eligible,profile_id,profile_name\nacct-1,MTech,maybe,p-1,North\nacct 2,X,true,,\n"

    result = import_file(runner, write(bad, "accounts.csv"), "--json")

    assert result.exit_code == 1
    error = json.loads(result.stderr)
    assert error["problems"] == [{"where": "line 2", "message": "eligible must be true or false, not 'maybe'"}]
    assert result.stdout == ""
    assert counts(clean_app)["accounts"] == 0


def test_json_problems_name_their_place(runner, clean_app, write):
    result = import_file(runner, write({"accounts": [{"id": "acct 1", "name": "X"}]}), "--json")

    assert result.exit_code == 1
    assert [p["where"] for p in json.loads(result.stderr)["problems"]] == ["accounts[0].id"]


@pytest.mark.parametrize(
    ("file_format", "name", "console_path"),
    [
        ("json", "directory.json", "/admin/directory/export.json"),
        ("accounts-csv", "accounts.csv", "/admin/directory/accounts.csv"),
        ("users-csv", "users.csv", "/admin/directory/users.csv"),
    ],
)
def test_an_export_is_the_consoles_and_imports_back(
    runner, clean_app, make, console, tmp_path, file_format, name, console_path
):
    make.directory()
    path = tmp_path / name

    result = runner.invoke(args=["directory", "export", "--format", file_format, "--output", str(path), "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"file": str(path), "format": file_format, "accounts": 3, "users": 4}
    assert path.read_bytes() == console.get(console_path).data
    assert "password" not in path.read_text().replace("password_hash", "")
    before = counts(clean_app)
    assert import_file(runner, str(path)).exit_code == 0
    assert counts(clean_app) == before
    with clean_app.app_context():
        exported = [
            a.detail for a in db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "directory_exported"))
        ]
    assert {"file": str(path), "format": file_format} in exported


def test_an_export_goes_to_stdout_by_default(runner, clean_app, make):
    document = make.directory()

    result = runner.invoke(args=["directory", "export"])

    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)
    assert [a["id"] for a in exported["accounts"]] == sorted(a["id"] for a in document["accounts"])
    assert all(u["password_hash"].startswith("$argon2") for u in exported["users"])
