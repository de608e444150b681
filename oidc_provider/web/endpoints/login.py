"""The tenant sign-in page."""

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import logout_user

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.directory import account_directory
from oidc_provider.directory.sessions import end_sessions
from oidc_provider.oidc.interaction import (
    PENDING_KEY,
    let_sign_in_redirect,
    login_hint,
    requests_kept_across_sign_in,
    tenant_user,
)
from oidc_provider.web import metrics, sessions
from oidc_provider.web.redirect_targets import local_path
from oidc_provider.web.throttling import throttle_sign_in

bp = Blueprint("login", __name__)


@bp.route("/login", methods=["GET", "POST"])
@throttle_sign_in("tenant")
def sign_in():
    pending = request.values.get("pending", "")
    next_path = local_path(request.values.get("next", ""))
    error = None
    if request.method == "POST":
        user = account_directory().authenticate(request.form.get("email", ""), request.form.get("password", ""))
        if user is not None:
            _start_session(user)
            if pending:
                return redirect(url_for("authorize.resume", pending=pending))
            return redirect(next_path or url_for("login.signed_in"))
        metrics.SIGN_IN_FAILURES.inc()
        # One message whether the email exists or not.
        error = "The email or password is incorrect."
    email = request.form.get("email") or login_hint(pending)
    let_sign_in_redirect(pending)
    return render_template("login.html", pending=pending, next_path=next_path, error=error, email=email), (
        401 if error else 200
    )


@bp.get("/")
def signed_in():
    return render_template("home.html", user=tenant_user())


@bp.post("/logout")
def sign_out():
    user = tenant_user()
    if user is not None:
        end_sessions(user)  # a copy of this session's cookie is refused from now on
        db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("login.sign_in"))


def _start_session(user) -> None:
    """A new session at sign-in (nothing from before survives but the pending requests),
    so a session id planted before sign-in is worth nothing after it."""
    pending = requests_kept_across_sign_in()
    session.clear()
    session[PENDING_KEY] = pending
    session.permanent = True
    sessions.begin(user)
    session["auth_time"] = clock.now().timestamp()
