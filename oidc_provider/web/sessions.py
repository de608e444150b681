"""Who is signed in, and for how long: Flask-Login over the signed session cookie, checked
against the user's row on every request that carries one.

Session ids carry their kind ("tenant:7"), so the admin console can keep its own users in
its own table and a tenant user is never taken for an admin.

A signed cookie cannot be taken back once issued, so the session holds the user's
``session_version`` from when it began, and the row's version is compared on each request:
signing out, a new password, or disabling an admin raises the version, and every copy of
the cookie made before is refused at once. The user's row is read on each such request
anyway, so the check costs no query. The cookie also holds when the session began and when
it was last used: past the idle timeout or the absolute lifetime it is refused too.

Only pages reach this: the back channel (token, account-info, discovery, JWKS, webhooks)
carries no session cookie and never loads a user.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g, session
from flask.globals import request_ctx
from flask.sessions import SecureCookieSessionInterface
from flask_login import login_user

from oidc_provider.core import clock
from oidc_provider.core.extensions import db, login_manager
from oidc_provider.core.models import Admin, TenantUser
from oidc_provider.directory import account_directory

VERSION_KEY = "_sv"
STARTED_KEY = "_started"
SEEN_KEY = "_seen"
# The last use is written back to the cookie at most this often, in seconds: a cookie
# signed again on every page would cost each request, and the idle timeout is counted in
# minutes anyway.
SEEN_RESOLUTION = 60
_LOGIN_KEYS = ("_user_id", "_fresh", "_id", VERSION_KEY, STARTED_KEY, SEEN_KEY)


@dataclass(frozen=True)
class Timeouts:
    idle: int  # seconds without a request
    lifetime: int  # seconds from sign-in, however busy


def timeouts(kind: str) -> Timeouts:
    config = current_app.config
    if kind == "admin":
        return Timeouts(config["ADMIN_IDLE_TIMEOUT"], config["ADMIN_SESSION_LIFETIME"])
    return Timeouts(config["TENANT_SESSION_IDLE_TIMEOUT"], config["TENANT_SESSION_LIFETIME"])


@login_manager.user_loader
def load_user(session_user_id: str):
    kind, _, key = session_user_id.partition(":")
    user = None
    if kind == "tenant" and key.isdigit():
        user = account_directory().find_user(int(key))
    elif kind == "admin" and key.isdigit():
        user = db.session.get(Admin, int(key))
        if user is not None and not user.active:
            user = None
    if user is None or not _still_valid(kind, user):
        # Remembered for the page that must say why (the console's "signed out" notice).
        g.session_refused = session_user_id
        for name in _LOGIN_KEYS:
            session.pop(name, None)
        return None
    return user


def _still_valid(kind: str, user) -> bool:
    if session.get(VERSION_KEY) != (user.session_version or 0):
        return False
    now = clock.now().timestamp()
    limits = timeouts(kind)
    started, seen = session.get(STARTED_KEY, 0), session.get(SEEN_KEY, 0)
    if now - seen > limits.idle or now - started > limits.lifetime:
        return False
    if now - seen >= SEEN_RESOLUTION:
        session[SEEN_KEY] = now
    return True


def begin(user: Admin | TenantUser) -> None:
    """Sign ``user`` in on this browser; the caller has cleared the session first, so a
    session id planted before sign-in is worth nothing after it."""
    login_user(user)
    now = clock.now().timestamp()
    session[VERSION_KEY] = user.session_version or 0
    session[STARTED_KEY] = now
    session[SEEN_KEY] = now


def refused() -> str | None:
    """The session user id ("admin:3") of a session this request's cookie held and that
    was refused as ended or expired; None when there was none."""
    return g.get("session_refused")


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, without building the cookie's signer for a request
    that carries no cookie: every back-channel request."""

    def open_session(self, app, request):
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def _update_remember_cookie(response):
    """Flask-Login's remember-cookie hook, only after a request that used its session (the
    hook acts on what sign-in and sign-out leave there). Run on every request, it read the
    session of each, which put ``Vary: Cookie`` on answers that depend on no cookie (token,
    account-info, discovery, JWKS, webhooks)."""
    if request_ctx._session is not None and request_ctx._session.accessed:
        return login_manager._update_remember_cookie(response)
    return response


def init_app(app: Flask) -> None:
    app.session_interface = CookieSessions()
    login_manager.init_app(app)
    hooks = app.after_request_funcs[None]
    hooks[hooks.index(login_manager._update_remember_cookie)] = _update_remember_cookie
    login_manager.login_view = "login.sign_in"
    # The session cookie is renewed at sign-in; "strong" would also drop it when the
    # client's address changes, which mobile users do all day.
    login_manager.session_protection = "basic"
