"""The account directory: the database implementation, the import, and the pluggable port."""

from __future__ import annotations

import base64
import json
import re

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import password_needs_rehash
from oidc_provider.core.models import Account, Profile, TenantUser
from oidc_provider.directory import account_directory
from oidc_provider.directory.store import DatabaseDirectory, DirectoryImportError, import_directory
from tests.factories import PASSWORD


def user(email: str) -> TenantUser:
    return db.session.scalar(select(TenantUser).where(TenantUser.email == email))


# -- DatabaseDirectory ------------------------------------------------------------------------


def test_authenticate_answers_the_user_for_the_right_password(clean_app, make):
    make.directory()
    with clean_app.app_context():
        found = DatabaseDirectory().authenticate("owner@mtech.example", PASSWORD)
        assert found is not None and found.email == "owner@mtech.example"


def test_authenticate_ignores_case_and_surrounding_spaces_in_the_email(clean_app, make):
    make.directory()
    with clean_app.app_context():
        assert DatabaseDirectory().authenticate("  Owner@MTech.Example ", PASSWORD) is not None


@pytest.mark.parametrize(
    "email, password",
    [
        ("owner@mtech.example", PASSWORD + "x"),
        ("owner@mtech.example", ""),
        ("stranger@mtech.example", PASSWORD),
        ("", ""),
    ],
)
def test_authenticate_refuses_wrong_credentials(clean_app, make, email, password):
    make.directory()
    with clean_app.app_context():
        assert DatabaseDirectory().authenticate(email, password) is None


def test_a_user_imported_without_a_password_cannot_sign_in(clean_app):
    with clean_app.app_context():
        import_directory({"users": [{"email": "invited@mtech.example", "name": "Invited"}]})
        assert user("invited@mtech.example").password_hash is None
        assert DatabaseDirectory().authenticate("invited@mtech.example", "") is None
        assert DatabaseDirectory().authenticate("invited@mtech.example", "no user has this password") is None


def test_a_weaker_hash_is_upgraded_at_the_next_sign_in(clean_app):
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with clean_app.app_context():
        import_directory({"users": [{"email": "old@mtech.example", "password_hash": weak}]})
        assert DatabaseDirectory().authenticate("old@mtech.example", PASSWORD) is not None
        upgraded = user("old@mtech.example").password_hash
        assert upgraded != weak
        assert password_needs_rehash(upgraded) is False
        assert DatabaseDirectory().authenticate("old@mtech.example", PASSWORD) is not None


def test_a_wrong_password_does_not_touch_the_stored_hash(clean_app):
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with clean_app.app_context():
        import_directory({"users": [{"email": "old@mtech.example", "password_hash": weak}]})
        assert DatabaseDirectory().authenticate("old@mtech.example", "wrong password") is None
        assert user("old@mtech.example").password_hash == weak


def test_pairable_accounts_are_the_users_accounts_by_name(clean_app, make):
    make.directory()
    with clean_app.app_context():
        directory = DatabaseDirectory()
        accounts = directory.pairable_accounts(user("manager@mtech.example"))
        assert [a.id for a in accounts] == [
            "acct-closed",
            "acct-hvac",
            "acct-plumbing",  # Closed Branch, MTech HVAC, MTech Plumbing
        ]
        # With their profiles: a Custom pairing sends them to ServiceTitan.
        assert {a.id: [p.id for p in a.profiles] for a in accounts} == {
            a.id: [p.id for p in a.profiles] for a in user("manager@mtech.example").accounts
        }
        assert any(a.profiles for a in accounts)
        assert directory.pairable_accounts(user("nobody@mtech.example")) == []


def test_find_user_by_primary_key(clean_app, make):
    make.directory()
    with clean_app.app_context():
        owner = user("owner@mtech.example")
        found = DatabaseDirectory().find_user(owner.id)
        assert (found.id, found.subject, found.email, found.name) == (owner.id, owner.subject, owner.email, owner.name)
        assert DatabaseDirectory().find_user(owner.id + 1000) is None


def test_subjects_are_opaque_and_unique(clean_app, make):
    make.directory()
    with clean_app.app_context():
        subjects = [u.subject for u in db.session.scalars(select(TenantUser))]
        assert len(set(subjects)) == 4
        assert not any("@" in s or "mtech" in s for s in subjects)


# -- import_directory -------------------------------------------------------------------------


def test_reimport_keeps_the_subject_and_replaces_memberships_and_profiles(clean_app, make):
    make.directory()
    with clean_app.app_context():
        subject = user("manager@mtech.example").subject
        import_directory(
            {
                "accounts": [
                    {
                        "id": "acct-hvac",
                        "name": "MTech HVAC",
                        "profiles": [{"id": "p-south", "name": "South"}, {"id": "p-east", "name": "East"}],
                    }
                ],
                "users": [{"email": "manager@mtech.example", "accounts": ["acct-hvac"]}],
            }
        )
        db.session.expire_all()
        manager = user("manager@mtech.example")
        assert manager.subject == subject
        assert [a.id for a in manager.accounts] == ["acct-hvac"]
        assert [p.id for p in db.session.get(Account, "acct-hvac").profiles] == ["p-south", "p-east"]
        assert db.session.get(Profile, "p-north") is None
        # Accounts the file does not mention stay as they were.
        assert db.session.get(Account, "acct-plumbing") is not None


def test_a_profile_may_move_position_within_its_account(clean_app, make):
    make.directory()
    with clean_app.app_context():
        import_directory(
            {
                "accounts": [
                    {
                        "id": "acct-hvac",
                        "name": "MTech HVAC",
                        "profiles": [{"id": "p-south", "name": "South"}, {"id": "p-north", "name": "North"}],
                    }
                ]
            }
        )
        db.session.expire_all()
        assert [p.id for p in db.session.get(Account, "acct-hvac").profiles] == ["p-south", "p-north"]


def test_the_report_counts_what_was_imported_and_progress_wraps_the_users(clean_app):
    seen = []

    def progress(items):
        for item in items:
            seen.append(item["email"])
            yield item

    document = {
        "accounts": [{"id": "a", "name": "A", "profiles": [{"id": "pa", "name": "x"}, {"id": "pb", "name": "y"}]}],
        "users": [{"email": "one@mtech.example", "accounts": ["a"]}, {"email": "two@mtech.example"}],
    }
    with clean_app.app_context():
        report = import_directory(document, progress=progress)

    assert (report.accounts, report.profiles, report.users) == (1, 2, 2)
    assert seen == ["one@mtech.example", "two@mtech.example"]


def test_an_import_error_carries_every_problem(clean_app):
    with clean_app.app_context():
        with pytest.raises(DirectoryImportError) as refused:
            import_directory({"accounts": [{"id": "", "name": ""}], "users": [{"email": "x"}]})
        assert db.session.scalar(select(Account)) is None

    assert list(map(str, refused.value.problems)) == [
        "accounts[0].id: '' must be 1 to 128 letters, digits, '_' or '-'",
        "accounts[0].name: must be a non-empty string",
        "users[0].email: must be an email address",
    ]


@pytest.mark.parametrize("document", [None, [], "accounts", 3])
def test_a_document_that_is_not_an_object_is_refused(clean_app, document):
    with clean_app.app_context(), pytest.raises(DirectoryImportError) as refused:
        import_directory(document)

    assert list(map(str, refused.value.problems)) == [
        "the file must hold a JSON object with 'accounts' and 'users' lists"
    ]


# -- the port ---------------------------------------------------------------------------------


class RecordingDirectory(DatabaseDirectory):
    """A partner's own user store, as ``OIDC_PROVIDER_DIRECTORY`` would name it."""

    calls: list[str] = []

    def authenticate(self, email, password):
        self.calls.append(email)
        return super().authenticate(email, password)


def test_the_directory_setting_names_the_user_store_the_sign_in_page_asks(clean_app, make, web, monkeypatch):
    make.directory()
    RecordingDirectory.calls = []
    monkeypatch.setitem(clean_app.config, "DIRECTORY", "tests.directory.test_store:RecordingDirectory")
    # None: the next request builds the directory the setting names; undone after the test.
    monkeypatch.setitem(clean_app.extensions, "oidc_provider.directory", None)
    login_page = web.get("/login")
    csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text).group(1)

    answer = web.post("/login", data={"csrf_token": csrf_token, "email": "owner@mtech.example", "password": PASSWORD})

    assert answer.status_code == 302
    assert RecordingDirectory.calls == ["owner@mtech.example"]
    with clean_app.app_context():
        assert isinstance(account_directory(), RecordingDirectory)


class OwnProfilesDirectory(DatabaseDirectory):
    """A partner's store that keeps profiles itself: the provider's own table holds others."""

    def with_profiles(self, accounts):
        for account in accounts:
            account.profiles = [Profile(id="own-1", account_id=account.id, name="Kept elsewhere", position=0)]
        return accounts


def test_a_directory_of_ones_own_answers_the_profiles_of_the_exchange_and_account_info(
    clean_app, make, flows, monkeypatch
):
    """The code exchange and account-info read the profiles table with the code and the
    token (on PostgreSQL); a directory that answers ``with_profiles`` itself still decides."""
    make.directory()
    client = make.client(account_info_claim=True)
    monkeypatch.setitem(clean_app.config, "DIRECTORY", "tests.directory.test_store:OwnProfilesDirectory")
    monkeypatch.setitem(clean_app.extensions, "oidc_provider.directory", None)
    own = [{"Id": "own-1", "Name": "Kept elsewhere"}]

    tokens = flows.tokens(client)
    payload = tokens["id_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert json.loads(claims["accountInfo"])["Account"]["Profiles"] == own
    assert flows.account_info(tokens["access_token"]).json["Account"]["Profiles"] == own
