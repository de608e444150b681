"""Partner admins: list, add, disable or enable, reset a password, remove.

The rules (never the last active admin; sessions end on disabling and on a new password)
are ``directory.admins``', the same as the command line's.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for

from oidc_provider.core.models import Admin
from oidc_provider.core.problems import ProblemError
from oidc_provider.directory import admins
from oidc_provider.web.admin import confirmation, forms
from oidc_provider.web.admin.auth import actor, current_admin

bp = Blueprint("admins", __name__)


@bp.get("/admins")
def index(problems: dict | None = None, email: str = "", status: int = 200):
    body = render_template(
        "admin/admins.html", admins=admins.admins(), problems=problems or {}, email=email, me=current_admin()
    )
    return body, status


def _refused(error: ProblemError, email: str = ""):
    return index({problem.where or "admins": problem.message for problem in error.problems}, email, 422)


def _admin(admin_id: int) -> Admin:
    return forms.found(admins.find_admin(admin_id))


@bp.post("/admins")
def add():
    try:
        admins.create_admin(forms.text("email"), forms.text("password"), actor())
    except ProblemError as error:
        return _refused(error, forms.text("email"))
    return redirect(url_for(".index"))


@bp.post("/admins/<int:admin_id>/disable")
def disable(admin_id):
    admin = _admin(admin_id)
    if not confirmation.confirmed():
        return confirmation.ask(
            f"Disable admin {admin.email}?",
            f"{admin.email} is signed out everywhere at once and cannot sign in until an admin enables them again.",
            "Disable admin",
            url_for(".index"),
        )
    try:
        admins.disable(admin, actor())
    except ProblemError as error:
        return _refused(error)
    return redirect(url_for(".index"))


@bp.post("/admins/<int:admin_id>/enable")
def enable(admin_id):
    try:
        admins.enable(_admin(admin_id), actor())
    except ProblemError as error:
        return _refused(error)
    return redirect(url_for(".index"))


@bp.post("/admins/<int:admin_id>/password")
def reset_password(admin_id):
    admin = _admin(admin_id)
    try:
        admins.reset_password(admin, forms.text("new_password"), actor())
    except ProblemError as error:
        return index({"admins": f"{admin.email}: {error.problems[0].message}"}, status=422)
    return redirect(url_for(".index"))


@bp.post("/admins/<int:admin_id>/remove")
def remove(admin_id):
    admin = _admin(admin_id)
    if not confirmation.confirmed():
        return confirmation.ask(
            f"Remove admin {admin.email}?",
            f"{admin.email} is signed out everywhere and removed: to let them in again, add them as a new admin. "
            "The audit log keeps what they did.",
            "Remove admin",
            url_for(".index"),
        )
    try:
        admins.remove(admin, actor())
    except ProblemError as error:
        return _refused(error)
    return redirect(url_for(".index"))
