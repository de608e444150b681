"""Admin sign-in, sign-out, and the guard in front of every console page.

Admins are a table of their own, never tenant users: a tenant's session is refused (403)
and an anonymous visitor is sent to ``/admin/login``. An admin session ends after
``ADMIN_IDLE_TIMEOUT`` seconds without a console request or ``ADMIN_SESSION_LIFETIME``
after sign-in, and lives only as long as the browser (it is not a permanent session),
since a console left open is a console anyone can use. Signing out ends every copy of the
session at once (``web/sessions.py``); so do disabling the admin and a new password.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user
from sqlalchemy import select

from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import verify_password
from oidc_provider.core.models import Admin, TenantUser
from oidc_provider.directory.sessions import end_sessions
from oidc_provider.directory.store import normalize_email
from oidc_provider.web import sessions
from oidc_provider.web.redirect_targets import local_path
from oidc_provider.web.throttling import throttle_sign_in

bp = Blueprint("auth", __name__)

PUBLIC_ENDPOINTS = {"admin.auth.sign_in"}


def current_admin() -> Admin | None:
    return current_user if isinstance(current_user, Admin) else None


def actor() -> str:
    """How the audit log names the admin making a change."""
    return current_admin().email


def authenticate(email: str, password: str) -> Admin | None:
    """The admin with these credentials, or None; as slow for an unknown email as for a
    wrong password, so the time taken does not tell which emails are admins."""
    admin = db.session.scalar(select(Admin).where(Admin.email == normalize_email(email)))
    if not verify_password(admin.password_hash if admin else None, password) or not admin.active:
        return None
    return admin


def require_admin():
    """Runs before every console request."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    admin = current_admin()
    if admin is None:
        if isinstance(current_user, TenantUser):
            abort(403, "This page is for partner admins. Tenant accounts cannot use the admin console.")
        refused = sessions.refused()
        if refused and refused.startswith("admin:"):
            # Idle, too old, signed out elsewhere, disabled or given a new password.
            record_event("admin_session_expired", "", {"admin_id": int(refused.partition(":")[2])})
            db.session.commit()
            session.clear()
            return redirect(url_for("admin.auth.sign_in", expired=1, next=_next_path()))
        return redirect(url_for("admin.auth.sign_in", next=_next_path()))
    return None


@bp.route("/login", methods=["GET", "POST"])
@throttle_sign_in("admin")
def sign_in():
    next_path = local_path(request.values.get("next", ""), under="/admin")
    error = None
    if request.method == "POST":
        admin = authenticate(request.form.get("email", ""), request.form.get("password", ""))
        if admin is not None:
            _start_session(admin)
            record_event("admin_signed_in", admin.email)
            db.session.commit()
            return redirect(next_path or url_for("admin.home.index"))
        # One message whether the email exists or not.
        error = "The email or password is incorrect."
    expired = request.args.get("expired") == "1" and request.method == "GET"
    body = render_template(
        "admin/login.html", error=error, expired=expired, next_path=next_path, email=request.form.get("email", "")
    )
    return body, 401 if error else 200, {"Cache-Control": "no-store"}


@bp.post("/logout")
def sign_out():
    admin = current_admin()
    record_event("admin_signed_out", admin.email)
    end_sessions(admin)  # a copy of this session's cookie is refused from now on
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("admin.auth.sign_in"))


def _start_session(admin: Admin) -> None:
    """A new session: nothing from before sign-in survives, so a planted session id is
    worth nothing, and a tenant signed in on this browser is signed out."""
    session.clear()
    session.permanent = False
    sessions.begin(admin)


def _next_path() -> str | None:
    return request.full_path.rstrip("?") if request.method == "GET" else None
