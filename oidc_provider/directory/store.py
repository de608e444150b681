"""The default directory, on the product's own tables, and the documents that fill them.

``DatabaseDirectory`` answers the ``AccountDirectory`` port (``port.py``); ``flask directory
import`` and the console write its tables through ``import_directory``, whose rules check
every account, profile and user, and ``export_directory`` writes the same document back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import has_request_context, request
from sqlalchemy import JSON, ColumnElement, Row, Table, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import selectinload

from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import hash_password, password_needs_rehash, verify_password
from oidc_provider.core.models import Account, Profile, TenantUser, detached, user_accounts
from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.directory.sessions import end_sessions

#: Ids we hand to ServiceTitan: its documents' own ids use letters, digits, "_" and "-".
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
NAME_MAX = 128
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PASSWORD_MIN = 8


_users, _accounts, _profiles = TenantUser.__table__, Account.__table__, Profile.__table__
_SELECT_USER = select(_users).where(_users.c.id == bindparam("user_id"))
_SELECT_ACCOUNTS_OF_USER = (
    select(_accounts)
    .join(user_accounts, user_accounts.c.account_id == _accounts.c.id)
    .where(user_accounts.c.user_id == bindparam("user_id"))
    .order_by(_accounts.c.name)
)
_SELECT_PROFILES = (
    select(_profiles)
    .where(_profiles.c.account_id.in_(bindparam("account_ids", expanding=True)))
    .order_by(_profiles.c.position)
)


class DatabaseDirectory:
    """The default directory: the tables that ``flask directory import`` fills."""

    def authenticate(self, email: str, password: str) -> TenantUser | None:
        user = db.session.scalar(select(TenantUser).where(TenantUser.email == normalize_email(email)))
        if not verify_password(user.password_hash if user else None, password) or user is None:
            return None
        if password_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
            db.session.commit()
        return user

    # Every request of a signed-in tenant loads the user, and every authorization request
    # the accounts: prebuilt Core statements and detached rows (see docs/performance.md).
    def find_user(self, user_id: int) -> TenantUser | None:
        row = db.session.execute(_SELECT_USER, {"user_id": user_id}).first()
        return detached(TenantUser, row) if row else None

    def pairable_accounts(self, user: TenantUser) -> list[Account]:
        rows = db.session.execute(_SELECT_ACCOUNTS_OF_USER, {"user_id": user.id})
        return self.with_profiles([detached(Account, row) for row in rows])

    def with_profiles(self, accounts: list[Account]) -> list[Account]:
        return _with_profiles(accounts)


_REMEMBERED = "oidc_provider.profiles"


def profiles_column(accounts: Table) -> ColumnElement:
    """The profiles of the row's account, in their order, as one JSON array of ``[id, name,
    position]``: a statement that reads an account on a hot path reads its profiles with it,
    on PostgreSQL (``remember_profiles``)."""
    row = func.json_build_array(_profiles.c.id, _profiles.c.name, _profiles.c.position)
    aggregated = func.json_agg(aggregate_order_by(row, _profiles.c.position), type_=JSON)
    return (
        select(func.coalesce(aggregated, literal_column("'[]'::json")))
        .where(_profiles.c.account_id == accounts.c.id)
        .scalar_subquery()
        .label("profiles")
    )


def remember_profiles(account_id: str, row: Row) -> None:
    """The profiles ``row`` holds when its statement read them with the account
    (``profiles_column``): this directory's ``with_profiles`` answers from them for the rest
    of the request, without a query. A directory of one's own reads its profiles where it
    keeps them."""
    if "profiles" in row._fields:
        request.environ.setdefault(_REMEMBERED, {})[account_id] = [
            Profile(id=id, account_id=account_id, name=name, position=position) for id, name, position in row.profiles
        ]


def _with_profiles(accounts: list[Account]) -> list[Account]:
    """Detached ``accounts``, each given its profiles in their order, read in one query
    (none for the accounts whose profiles the request already read)."""
    remembered = request.environ.get(_REMEMBERED, {}) if has_request_context() else {}
    by_id = {}
    for account in accounts:
        account.profiles = list(remembered.get(account.id, ()))
        if account.id not in remembered:
            by_id[account.id] = account
    if by_id:
        for row in db.session.execute(_SELECT_PROFILES, {"account_ids": list(by_id)}):
            by_id[row.account_id].profiles.append(detached(Profile, row))
    return accounts


def normalize_email(email: str) -> str:
    return email.strip().lower()


class DirectoryImportError(ProblemError):
    """A directory file that cannot be imported; ``problems`` lists every reason."""


@dataclass
class ImportReport:
    accounts: int = 0
    profiles: int = 0
    users: int = 0
    problems: list[str] = field(default_factory=list)
    #: Imported all the same, but not pairable: ServiceTitan requires profiles.
    warnings: list[Problem] = field(default_factory=list)


def import_directory(document: Any, progress: Callable[[Iterable], Iterable] = iter) -> ImportReport:
    """Upsert accounts, profiles and users from the ``directory import`` JSON shape.

    The whole document is checked first; a bad one is refused whole with every problem
    listed, and nothing is written. ``progress`` wraps the slow part (hashing passwords).
    """
    problems = _validate_document(document)
    if problems:
        raise DirectoryImportError(problems)
    report = ImportReport()
    for index, entry in enumerate(document.get("accounts", [])):
        _upsert_account(entry)
        report.accounts += 1
        report.profiles += len(entry.get("profiles", []))
        if not entry.get("profiles"):
            report.warnings.append(
                Problem(
                    f"accounts[{index}].profiles",
                    f"account {entry['id']!r} has no profiles: it cannot be paired (ServiceTitan requires "
                    "at least one) until it has one",
                )
            )
    db.session.flush()
    for entry in progress(document.get("users", [])):
        _upsert_user(entry)
        report.users += 1
    db.session.commit()
    return report


def _upsert_account(entry: dict) -> None:
    account = db.session.get(Account, entry["id"]) or Account(id=entry["id"])
    account.name = entry["name"]
    account.eligible = entry.get("eligible", True)
    existing = {p.id: p for p in account.profiles}
    account.profiles = [
        _profile(existing.get(p["id"]), p, position) for position, p in enumerate(entry.get("profiles", []))
    ]
    db.session.add(account)


def _profile(profile: Profile | None, entry: dict, position: int) -> Profile:
    profile = profile or db.session.get(Profile, entry["id"]) or Profile(id=entry["id"])
    profile.name = entry["name"]
    profile.position = position
    return profile


def _upsert_user(entry: dict) -> None:
    email = normalize_email(entry["email"])
    user = db.session.scalar(select(TenantUser).where(TenantUser.email == email)) or TenantUser(email=email)
    user.name = entry.get("name", user.name or "")
    previous_hash = user.password_hash
    if "password" in entry:
        user.password_hash = hash_password(entry["password"])
    elif "password_hash" in entry:
        user.password_hash = entry["password_hash"]
    if user.id is not None and user.password_hash != previous_hash:
        end_sessions(user)  # a new password signs the user out everywhere
    user.accounts = [db.session.get(Account, account_id) for account_id in entry.get("accounts", [])]
    db.session.add(user)


def _validate_document(document: object) -> list[Problem]:
    if not isinstance(document, dict):
        return [Problem("", "the file must hold a JSON object with 'accounts' and 'users' lists")]
    problems = [Problem("", f"unknown top-level key {key!r}") for key in document if key not in ("accounts", "users")]
    accounts = document.get("accounts", [])
    users = document.get("users", [])
    if not isinstance(accounts, list):
        return [*problems, Problem("accounts", "must be a list")]
    if not isinstance(users, list):
        return [*problems, Problem("users", "must be a list")]

    account_ids: set[str] = set()
    profile_owner: dict[str, Any] = {}  # an account id as the file gives it
    for index, account in enumerate(accounts):
        where = f"accounts[{index}]"
        if not isinstance(account, dict):
            problems.append(Problem(f"{where}", "must be an object"))
            continue
        problems += _check_id(where, account.get("id"))
        problems += _check_name(where, account.get("name"))
        if "eligible" in account and not isinstance(account["eligible"], bool):
            problems.append(Problem(f"{where}.eligible", "must be true or false"))
        account_id = account.get("id")
        if isinstance(account_id, str) and account_id in account_ids:
            problems.append(Problem(f"{where}.id", f"account {account_id!r} appears twice"))
        if isinstance(account_id, str):
            account_ids.add(account_id)
        profiles = account.get("profiles", [])
        if not isinstance(profiles, list):
            problems.append(Problem(f"{where}.profiles", "must be a list"))
            continue
        for p_index, profile in enumerate(profiles):
            p_where = f"{where}.profiles[{p_index}]"
            if not isinstance(profile, dict):
                problems.append(Problem(f"{p_where}", "must be an object"))
                continue
            problems += _check_id(p_where, profile.get("id"))
            problems += _check_name(p_where, profile.get("name"))
            profile_id = profile.get("id")
            if not isinstance(profile_id, str):
                continue
            if profile_id in profile_owner:
                problems.append(
                    Problem(
                        f"{p_where}.id",
                        f"profile {profile_id!r} is already used by account {profile_owner[profile_id]!r}"
                        " (ServiceTitan refuses duplicate profiles, 15304)",
                    )
                )
            profile_owner[profile_id] = account_id
    problems += _check_profiles_against_database(profile_owner)

    emails: set[str] = set()
    known_accounts = account_ids | _existing_account_ids(users)
    for index, user in enumerate(users):
        where = f"users[{index}]"
        if not isinstance(user, dict):
            problems.append(Problem(f"{where}", "must be an object"))
            continue
        email = user.get("email")
        if not isinstance(email, str) or not EMAIL_PATTERN.fullmatch(email.strip()) or len(email) > 254:
            problems.append(Problem(f"{where}.email", "must be an email address"))
        elif normalize_email(email) in emails:
            problems.append(Problem(f"{where}.email", f"{email!r} appears twice"))
        else:
            emails.add(normalize_email(email))
        if "name" in user:
            problems += _check_name(where, user["name"])
        problems += _check_password(where, user)
        user_accounts = user.get("accounts", [])
        if not isinstance(user_accounts, list) or not all(isinstance(a, str) for a in user_accounts):
            problems.append(Problem(f"{where}.accounts", "must be a list of account ids"))
            continue
        for account_id in user_accounts:
            if account_id not in known_accounts:
                problems.append(Problem(f"{where}.accounts", f"no account {account_id!r} in the file or the directory"))
    return problems


def _check_id(where: str, value: object) -> list[Problem]:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        return [Problem(f"{where}.id", f"{value!r} must be 1 to 128 letters, digits, '_' or '-'")]
    return []


def _check_name(where: str, value: object) -> list[Problem]:
    if not isinstance(value, str) or not value.strip():
        return [Problem(f"{where}.name", "must be a non-empty string")]
    if len(value) > NAME_MAX:
        return [Problem(f"{where}.name", f"at most {NAME_MAX} characters (has {len(value)})")]
    return []


def _check_password(where: str, user: dict) -> list[Problem]:
    if "password" in user and "password_hash" in user:
        return [Problem(f"{where}", "give 'password' or 'password_hash', not both")]
    if "password" in user:
        password = user["password"]
        if not isinstance(password, str) or len(password) < PASSWORD_MIN:
            return [Problem(f"{where}.password", f"at least {PASSWORD_MIN} characters")]
    elif "password_hash" in user:
        if not isinstance(user["password_hash"], str) or not user["password_hash"].startswith("$argon2"):
            return [Problem(f"{where}.password_hash", "must be an argon2 hash as exported by this product")]
    return []


def _check_profiles_against_database(profile_owner: dict[str, Any]) -> list[Problem]:
    # Only ids that can exist are looked up: PostgreSQL refuses to compare with a NUL.
    candidates = [profile_id for profile_id in profile_owner if ID_PATTERN.fullmatch(profile_id)]
    if not candidates:
        return []
    rows = db.session.execute(select(Profile.id, Profile.account_id).where(Profile.id.in_(candidates))).all()
    return [
        Problem("profiles", f"profile {profile_id!r} already belongs to account {owner!r} in the directory")
        for profile_id, owner in rows
        if owner != profile_owner[profile_id]
    ]


def _existing_account_ids(users: list) -> set[str]:
    wanted = {
        a
        for u in users
        if isinstance(u, dict) and isinstance(u.get("accounts"), list)
        for a in u["accounts"]
        if isinstance(a, str) and ID_PATTERN.fullmatch(a)
    }
    if not wanted:
        return set()
    return set(db.session.scalars(select(Account.id).where(Account.id.in_(wanted))))


# -- the admin console's view of the database directory ---------------------------------------


def export_directory() -> dict:
    """Every account and user in the ``directory import`` shape. Users carry their
    ``password_hash``, never a password, so importing the file restores them as they were."""
    accounts = db.session.scalars(select(Account).order_by(Account.id).options(selectinload(Account.profiles)))
    users = db.session.scalars(select(TenantUser).order_by(TenantUser.email).options(selectinload(TenantUser.accounts)))
    return {
        "accounts": [
            {
                "id": account.id,
                "name": account.name,
                "eligible": account.eligible,
                "profiles": [{"id": p.id, "name": p.name} for p in account.profiles],
            }
            for account in accounts
        ],
        "users": [
            {
                "email": user.email,
                **({"name": user.name} if user.name else {}),
                **({"password_hash": user.password_hash} if user.password_hash else {}),
                "accounts": sorted(a.id for a in user.accounts),
            }
            for user in users
        ],
    }


def save_account(entry: dict, actor: str) -> Account:
    """Create or change one account, by the rules of ``directory import``."""
    import_directory({"accounts": [entry]})
    record_event("account_saved", actor, {"account_id": entry["id"]})
    db.session.commit()
    return db.session.get_one(Account, entry["id"])


def set_eligible(account: Account, eligible: bool, actor: str) -> None:
    """An account that is not eligible is answered DECLINED from now on."""
    account.eligible = eligible
    record_event("account_eligible" if eligible else "account_not_eligible", actor, {"account_id": account.id})
    db.session.commit()


def save_user(entry: dict, actor: str, user: TenantUser | None = None) -> TenantUser:
    """Create a user, or change ``user`` (its email too), by the rules of ``directory import``."""
    email = normalize_email(str(entry.get("email", "")))
    taken = db.session.scalar(select(TenantUser.id).where(TenantUser.email == email))
    try:
        if taken is not None and (user is None or taken != user.id):
            raise DirectoryImportError([Problem("users[0].email", f"{email!r} is already another user's email")])
        if user is None and not entry.get("password"):
            raise DirectoryImportError(
                [Problem("users[0].password", f"give a new user a password of at least {PASSWORD_MIN} characters")]
            )
        if user is not None and email != user.email:
            user.email = email
            db.session.flush()
        import_directory({"users": [entry]})
    except DirectoryImportError:
        db.session.rollback()
        raise
    saved = db.session.scalars(select(TenantUser).where(TenantUser.email == email)).one()
    record_event("tenant_user_saved", actor, {"user_id": saved.id, "email": saved.email})
    db.session.commit()
    return saved


def set_password(user: TenantUser, password: str, actor: str) -> None:
    """Give a user a new password (the old one stops working at once)."""
    if problems := _check_password("users[0]", {"password": password}):
        raise DirectoryImportError(problems)
    user.password_hash = hash_password(password)
    end_sessions(user)
    record_event("tenant_password_reset", actor, {"user_id": user.id, "email": user.email})
    db.session.commit()
