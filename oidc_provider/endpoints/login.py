"""The tenant sign-in page."""

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user

from .. import clock
from ..directory import account_directory
from ..interaction import PENDING_KEY, login_hint, tenant_user

bp = Blueprint("login", __name__)


@bp.route("/login", methods=["GET", "POST"])
def sign_in():
    pending = request.values.get("pending", "")
    error = None
    if request.method == "POST":
        user = account_directory().authenticate(request.form.get("email", ""), request.form.get("password", ""))
        if user is not None:
            _start_session(user)
            if pending:
                return redirect(url_for("authorize.resume", pending=pending))
            return redirect(url_for("login.signed_in"))
        # One message whether the email exists or not.
        error = "The email or password is incorrect."
    email = request.form.get("email") or login_hint(pending)
    return render_template("login.html", pending=pending, error=error, email=email), (
        401 if error else 200
    )


@bp.get("/")
def signed_in():
    return render_template("home.html", user=tenant_user())


@bp.post("/logout")
def sign_out():
    logout_user()
    session.clear()
    return redirect(url_for("login.sign_in"))


def _start_session(user) -> None:
    """A new session at sign-in (nothing from before survives but the pending requests),
    so a session id planted before sign-in is worth nothing after it."""
    pending = session.get(PENDING_KEY, {})
    session.clear()
    session[PENDING_KEY] = pending
    session.permanent = True
    login_user(user)
    session["auth_time"] = clock.now().timestamp()
