"""Admin sign-in, sign-out, and the guard in front of every console page.

Admins are a table of their own, never tenant users: a tenant's session is refused (403)
and an anonymous visitor is sent to ``/admin/login``. An admin session ends after
``ADMIN_IDLE_TIMEOUT`` seconds without a console request, and lives only as long as the
browser (it is not a permanent session), since a console left open is a console anyone
can use.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from oidc_provider.core import clock
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import verify_password
from oidc_provider.core.models import Admin, TenantUser
from oidc_provider.directory.store import normalize_email
from oidc_provider.web.throttling import throttle_sign_in

bp = Blueprint("auth", __name__)

LAST_SEEN_KEY = "admin_last_seen"
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
    if not verify_password(admin.password_hash if admin else None, password):
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
        return redirect(url_for("admin.auth.sign_in", next=_next_path()))
    now = clock.now().timestamp()
    if now - session.get(LAST_SEEN_KEY, 0) > current_app.config["ADMIN_IDLE_TIMEOUT"]:
        record_event("admin_session_expired", admin.email)
        db.session.commit()
        _end_session()
        return redirect(url_for("admin.auth.sign_in", expired=1, next=_next_path()))
    session[LAST_SEEN_KEY] = now
    return None


@bp.route("/login", methods=["GET", "POST"])
@throttle_sign_in("admin")
def sign_in():
    next_path = _console_path(request.values.get("next", ""))
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
    record_event("admin_signed_out", actor())
    db.session.commit()
    _end_session()
    return redirect(url_for("admin.auth.sign_in"))


def _start_session(admin: Admin) -> None:
    """A new session: nothing from before sign-in survives, so a planted session id is
    worth nothing, and a tenant signed in on this browser is signed out."""
    session.clear()
    session.permanent = False
    login_user(admin)
    session[LAST_SEEN_KEY] = clock.now().timestamp()


def _end_session() -> None:
    logout_user()
    session.clear()


def _next_path() -> str | None:
    return request.full_path.rstrip("?") if request.method == "GET" else None


def _console_path(value: str) -> str:
    """``value`` when it is a console path on this site, else "": sign-in must never send
    the browser elsewhere."""
    parts = urlsplit(value)
    if value.startswith("/admin") and "\\" not in value and not (parts.scheme or parts.netloc):
        return value
    return ""
