"""Who is signed in: Flask-Login over the signed session cookie.

Session ids carry their kind ("tenant:7"), so the admin console can keep its own users in
its own table and a tenant user is never taken for an admin.
"""

from flask import Flask

from oidc_provider.core.extensions import db, login_manager
from oidc_provider.core.models import Admin
from oidc_provider.directory import account_directory


@login_manager.user_loader
def load_user(session_user_id: str):
    kind, _, key = session_user_id.partition(":")
    if kind == "tenant" and key.isdigit():
        return account_directory().find_user(int(key))
    if kind == "admin" and key.isdigit():
        return db.session.get(Admin, int(key))
    return None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "login.sign_in"
    # The session cookie is renewed at sign-in; "strong" would also drop it when the
    # client's address changes, which mobile users do all day.
    login_manager.session_protection = "basic"
