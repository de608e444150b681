"""The tenant directory as CSV, for spreadsheets: one file of accounts, one of users.

Both convert to and from the ``directory import`` JSON shape, so a CSV file is checked by
exactly the same rules as a JSON one. Accounts take a row per profile (an account without
profiles, one row with empty profile cells); users list their account ids separated by
spaces. Exports carry ``password_hash``, never a password; an import may give either.
"""

from __future__ import annotations

import csv
import io

from oidc_provider.core import csv_cells
from oidc_provider.core.problems import Problem, ProblemError

ACCOUNTS_HEADER = ("account_id", "account_name", "eligible", "profile_id", "profile_name")
USERS_HEADER = ("email", "name", "password_hash", "accounts")
_USERS_IMPORT_HEADER = ("email", "name", "password", "accounts")
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


class DirectoryCsvError(ProblemError):
    """A CSV file that cannot become a directory document; ``problems`` lists why."""


def accounts_csv(document: dict) -> str:
    out, writer = _writer()
    writer.writerow(ACCOUNTS_HEADER)
    for account in document["accounts"]:
        eligible = "true" if account.get("eligible", True) else "false"
        for profile in account["profiles"] or [{"id": "", "name": ""}]:
            writer.writerow((account["id"], account["name"], eligible, profile["id"], profile["name"]))
    return out.getvalue()


def users_csv(document: dict) -> str:
    out, writer = _writer()
    writer.writerow(USERS_HEADER)
    for user in document["users"]:
        writer.writerow(
            (user["email"], user.get("name", ""), user.get("password_hash", ""), " ".join(user["accounts"]))
        )
    return out.getvalue()


def document_from_csv(text: str) -> dict:
    """The ``directory import`` document that a CSV file of accounts or of users holds;
    the header says which."""
    rows = [[csv_cells.restored(cell) for cell in row] for row in csv.reader(io.StringIO(text.removeprefix("\ufeff")))]
    header = tuple(cell.strip().lower() for cell in rows[0]) if rows else ()
    body = [(line, row) for line, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]
    if header == ACCOUNTS_HEADER:
        return {"accounts": _accounts(body)}
    if header in (USERS_HEADER, _USERS_IMPORT_HEADER):
        return {"users": _users(body, password_column=header[2])}
    raise DirectoryCsvError(
        [
            Problem(
                "line 1",
                f"the header must be {','.join(ACCOUNTS_HEADER)} (accounts) "
                f"or {','.join(USERS_HEADER)} (users; 'password' may replace 'password_hash')",
            )
        ]
    )


def _accounts(body) -> list[dict]:
    problems: list[Problem] = []
    accounts: dict[str, dict] = {}
    for line, row in body:
        if len(row) != len(ACCOUNTS_HEADER):
            problems.append(Problem(f"line {line}", f"expected {len(ACCOUNTS_HEADER)} columns, found {len(row)}"))
            continue
        account_id, name, eligible, profile_id, profile_name = (cell.strip() for cell in row)
        if eligible.lower() not in _TRUE + _FALSE:
            problems.append(Problem(f"line {line}", f"eligible must be true or false, not {eligible!r}"))
            continue
        account = accounts.setdefault(
            account_id, {"id": account_id, "name": name, "eligible": eligible.lower() in _TRUE, "profiles": []}
        )
        if (name, eligible.lower() in _TRUE) != (account["name"], account["eligible"]):
            problems.append(
                Problem(f"line {line}", f"account {account_id!r} has another name or eligibility on an earlier line")
            )
        if profile_id or profile_name:
            account["profiles"].append({"id": profile_id, "name": profile_name})
    if problems:
        raise DirectoryCsvError(problems)
    return list(accounts.values())


def _users(body, password_column: str) -> list[dict]:
    problems: list[Problem] = []
    users = []
    for line, row in body:
        if len(row) != len(USERS_HEADER):
            problems.append(Problem(f"line {line}", f"expected {len(USERS_HEADER)} columns, found {len(row)}"))
            continue
        email, name, password, accounts = (cell.strip() for cell in row)
        user = {"email": email, "accounts": accounts.replace(",", " ").split()}
        if name:
            user["name"] = name
        if password:
            user[password_column] = password
        users.append(user)
    if problems:
        raise DirectoryCsvError(problems)
    return users


def _writer():
    out = io.StringIO()
    return out, csv_cells.Writer(out, lineterminator="\r\n")
