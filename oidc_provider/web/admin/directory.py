"""The tenant directory: accounts with their profiles, tenant users and the accounts each
may pair; import and export as ``directory import`` JSON or as CSV.

Every change goes through the directory module's import rules, so the console refuses what
``flask directory import`` refuses, and says so next to the field concerned.
"""

from __future__ import annotations

import json
import re

from flask import Blueprint, Response, redirect, render_template, request, url_for

from oidc_provider.core import json_limits
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Account, TenantUser
from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.directory.csv_format import accounts_csv, document_from_csv, users_csv
from oidc_provider.directory.store import (
    DirectoryImportError,
    export_directory,
    import_directory,
    save_account,
    save_user,
    set_eligible,
    set_password,
)
from oidc_provider.web.admin import forms, listings
from oidc_provider.web.admin.auth import actor

bp = Blueprint("directory", __name__)

# Where a problem of a one-entry import is, as a form field: accounts[0].name → name,
# accounts[0].profiles[2].id → profiles (line 3 of the text area).
_WHERE = re.compile(r"^(?:accounts|users)\[0\](?:\.profiles\[(\d+)\])?(?:\.(\w+))?")
# Problems listed on the import page; a file can have thousands.
PROBLEMS_SHOWN = 100


def field_problems(problems: list[Problem]) -> dict[str, str]:
    """The import's problems for one account or user, keyed by the form field they concern."""
    fields: dict[str, str] = {}
    for problem in problems:
        match = _WHERE.match(problem.where)
        if match and match.group(1) is not None:
            field, message = "profiles", f"line {int(match.group(1)) + 1}: {problem.message}"
        elif match and match.group(2):
            field, message = match.group(2), problem.message
        elif problem.where == "profiles":
            field, message = "profiles", problem.message
        else:
            field, message = "form", problem.message
        fields[field] = f"{fields[field]}; {message}" if field in fields else message
    return fields


# -- accounts -------------------------------------------------------------------------------


@bp.get("/accounts")
def accounts():
    q, eligible = request.args.get("q", "").strip(), request.args.get("eligible", "")
    return render_template(
        "admin/accounts.html", page=listings.page_of(listings.accounts(q, eligible)), q=q, eligible=eligible
    )


@bp.route("/accounts/new", methods=["GET", "POST"])
def new_account():
    if request.method == "GET":
        return _account_form(None, {"id": "", "name": "", "eligible": True, "profiles": ""}, {})
    return _save_account(None)


@bp.route("/accounts/<account_id>", methods=["GET", "POST"])
def edit_account(account_id):
    account = forms.found(db.session.get(Account, account_id))
    if request.method == "GET":
        profiles = "\n".join(f"{p.id}, {p.name}" for p in account.profiles)
        values = {"id": account.id, "name": account.name, "eligible": account.eligible, "profiles": profiles}
        return _account_form(account, values, {})
    return _save_account(account)


def _save_account(account: Account | None):
    values = {
        "id": account.id if account else forms.text("id"),
        "name": forms.text("name"),
        "eligible": forms.checked("eligible"),
        "profiles": request.form.get("profiles", ""),
    }
    problems = {}
    if account is None and db.session.get(Account, values["id"]) is not None:
        problems["id"] = f"an account with id {values['id']!r} already exists"
    else:
        entry = {**{k: values[k] for k in ("id", "name", "eligible")}, "profiles": _profiles(values["profiles"])}
        try:
            save_account(entry, actor())
        except DirectoryImportError as error:
            problems = field_problems(error.problems)
    if problems:
        return _account_form(account, values, problems, status=422)
    return redirect(url_for(".edit_account", account_id=values["id"], saved=1))


def _profiles(text: str) -> list[dict]:
    """One profile a line, "id, name"."""
    profiles = []
    for line in text.splitlines():
        if line.strip():
            profile_id, _, name = line.partition(",")
            profiles.append({"id": profile_id.strip(), "name": name.strip()})
    return profiles


def _account_form(account, values, problems, status=200):
    body = render_template(
        "admin/account_form.html",
        account=account,
        values=values,
        problems=problems,
        saved=request.args.get("saved") == "1",
    )
    return body, status


@bp.post("/accounts/<account_id>/eligibility")
def eligibility(account_id):
    account = forms.found(db.session.get(Account, account_id))
    set_eligible(account, request.form.get("eligible") == "yes", actor())
    return redirect(url_for(".edit_account", account_id=account_id, saved=1))


# -- users ----------------------------------------------------------------------------------


@bp.get("/users")
def users():
    q = request.args.get("q", "").strip()
    return render_template("admin/users.html", page=listings.page_of(listings.users(q)), q=q)


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    if request.method == "GET":
        return _user_form(None, {"email": "", "name": "", "accounts": ""}, {})
    return _save_user(None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id):
    user = forms.found(db.session.get(TenantUser, user_id))
    if request.method == "GET":
        values = {"email": user.email, "name": user.name, "accounts": " ".join(a.id for a in user.accounts)}
        return _user_form(user, values, {})
    return _save_user(user)


def _save_user(user: TenantUser | None):
    values = {"email": forms.text("email"), "name": forms.text("name"), "accounts": forms.text("accounts")}
    entry = {"email": values["email"], "accounts": values["accounts"].replace(",", " ").split()}
    if values["name"]:
        entry["name"] = values["name"]
    if user is None:
        entry["password"] = request.form.get("password", "")
    try:
        saved = save_user(entry, actor(), user=user)
    except DirectoryImportError as error:
        return _user_form(user, values, field_problems(error.problems), status=422)
    return redirect(url_for(".edit_user", user_id=saved.id, saved=1))


def _user_form(user, values, problems, status=200, password_problems=None, password_reset=False):
    body = render_template(
        "admin/user_form.html",
        user=user,
        values=values,
        problems=problems,
        password_problems=password_problems or {},
        password_reset=password_reset,
        saved=request.args.get("saved") == "1",
    )
    return body, status


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id):
    user = forms.found(db.session.get(TenantUser, user_id))
    values = {"email": user.email, "name": user.name, "accounts": " ".join(a.id for a in user.accounts)}
    try:
        set_password(user, request.form.get("new_password", ""), actor())
    except DirectoryImportError as error:
        return _user_form(user, values, {}, status=422, password_problems=field_problems(error.problems))
    return _user_form(user, values, {}, password_reset=True)


# -- import and export ----------------------------------------------------------------------


@bp.route("/directory/import", methods=["GET", "POST"])
def import_file():
    if request.method == "GET":
        return render_template("admin/directory_import.html", problems=[], report=None)
    uploaded = forms.upload_text("file")
    problems: list[str] = []
    report = None
    if uploaded is None:
        problems = ["choose a .json or .csv file"]
    elif uploaded[1] is None:
        problems = [f"{uploaded[0]} is not UTF-8 text"]
    else:
        filename, text = uploaded
        try:
            document = document_from_csv(text) if filename.lower().endswith(".csv") else json_limits.loads(text)
            report = import_directory(document)
        except json.JSONDecodeError as error:
            problems = [f"{filename} is not valid JSON: {error}"]
        except ProblemError as error:  # the import's, the CSV's, or JSON nested too deep
            problems = error.problems
    if problems:
        body = render_template(
            "admin/directory_import.html",
            problems=problems[:PROBLEMS_SHOWN],
            hidden=max(0, len(problems) - PROBLEMS_SHOWN),
            report=None,
        )
        return body, 422
    record_event(
        "directory_imported",
        actor(),
        {
            "file": filename,
            "accounts": report.accounts,
            "profiles": report.profiles,
            "users": report.users,
        },
    )
    db.session.commit()
    return render_template("admin/directory_import.html", problems=[], report=report)


@bp.get("/directory/export.json")
def export_json():
    return _download(json.dumps(export_directory(), indent=2), "directory.json", "application/json")


@bp.get("/directory/accounts.csv")
def export_accounts_csv():
    return _download(accounts_csv(export_directory()), "accounts.csv", "text/csv")


@bp.get("/directory/users.csv")
def export_users_csv():
    return _download(users_csv(export_directory()), "users.csv", "text/csv")


def _download(body: str, filename: str, mimetype: str) -> Response:
    # Exports carry password hashes: who took one is worth knowing.
    record_event("directory_exported", actor(), {"file": filename})
    db.session.commit()
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
