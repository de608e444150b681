"""Ending a person's sessions, tenant or admin, wherever they are signed in.

A session cookie holds the ``session_version`` its user had when it began, and the web
layer refuses it once the row's version has moved on (``web/sessions.py``): raising the
version ends every session of that person, every copy of every cookie included.
"""

from __future__ import annotations

from sqlalchemy import update

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Admin, TenantUser


def end_sessions(user: Admin | TenantUser) -> None:
    """The caller commits (which also refreshes ``user.session_version``)."""
    model: type[Admin] | type[TenantUser] = Admin if isinstance(user, Admin) else TenantUser
    db.session.execute(
        update(model).where(model.id == user.id).values(session_version=model.session_version + 1),
        execution_options={"synchronize_session": False},
    )
