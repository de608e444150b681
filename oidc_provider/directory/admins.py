"""Partner admins: add, disable, enable, reset a password, remove — the same rules for the
console and the command line.

There is always at least one active admin: disabling or removing the last one is refused,
since nobody could then sign in to undo it. Disabling an admin or giving them a new
password ends every session they have at once (``sessions.end_sessions``).
"""

from __future__ import annotations

from sqlalchemy import select

from oidc_provider.core import clock
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import hash_password
from oidc_provider.core.models import Admin
from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.directory.sessions import end_sessions
from oidc_provider.directory.store import EMAIL_PATTERN, PASSWORD_MIN, normalize_email


class AdminRefused(ProblemError):
    """A change to the admins that their rules do not allow."""


def admins() -> list[Admin]:
    """Every admin, active ones first, then by email."""
    return list(db.session.scalars(select(Admin).order_by(Admin.disabled_at.is_not(None), Admin.email)))


def find_admin(email_or_id: str | int) -> Admin | None:
    if isinstance(email_or_id, int) or str(email_or_id).isdigit():
        return db.session.get(Admin, int(email_or_id))
    return db.session.scalar(select(Admin).where(Admin.email == normalize_email(email_or_id)))


def create_admin(email: str, password: str, actor: str) -> Admin:
    email = normalize_email(email)
    problems = password_problems(password)
    if not EMAIL_PATTERN.fullmatch(email):
        problems.insert(0, Problem("email", f"{email!r} is not an email address"))
    elif find_admin(email) is not None:
        problems.insert(0, Problem("email", f"an admin with email {email!r} already exists"))
    if problems:
        raise AdminRefused(problems)
    admin = Admin(email=email, password_hash=hash_password(password), created_at=clock.now(), session_version=0)
    db.session.add(admin)
    db.session.flush()
    record_event("admin_created", actor, {"email": email, "admin_id": admin.id})
    db.session.commit()
    return admin


def disable(admin: Admin, actor: str) -> Admin:
    if not admin.active:
        raise AdminRefused([Problem("", f"{admin.email} is disabled already")])
    _refuse_last_active(admin, "disable")
    admin.disabled_at = clock.now()
    end_sessions(admin)
    record_event("admin_disabled", actor, {"email": admin.email, "admin_id": admin.id})
    db.session.commit()
    return admin


def enable(admin: Admin, actor: str) -> Admin:
    if admin.active:
        raise AdminRefused([Problem("", f"{admin.email} is active already")])
    admin.disabled_at = None
    record_event("admin_enabled", actor, {"email": admin.email, "admin_id": admin.id})
    db.session.commit()
    return admin


def reset_password(admin: Admin, password: str, actor: str) -> Admin:
    """A new password; the old one and every session made with it stop working at once."""
    if problems := password_problems(password):
        raise AdminRefused(problems)
    admin.password_hash = hash_password(password)
    end_sessions(admin)
    record_event("admin_password_reset", actor, {"email": admin.email, "admin_id": admin.id})
    db.session.commit()
    return admin


def remove(admin: Admin, actor: str) -> None:
    _refuse_last_active(admin, "remove")
    record_event("admin_removed", actor, {"email": admin.email, "admin_id": admin.id})
    db.session.delete(admin)
    db.session.commit()


def password_problems(password: str) -> list[Problem]:
    if len(password) < PASSWORD_MIN:
        return [Problem("password", f"the password needs at least {PASSWORD_MIN} characters")]
    return []


def _refuse_last_active(admin: Admin, verb: str) -> None:
    if not admin.active:
        return
    active = select(Admin.id).where(Admin.disabled_at.is_(None))
    if db.engine.dialect.name == "postgresql":
        # Rows locked, so that two admins disabling each other at once cannot both succeed
        # (SQLite lets one writer in at a time anyway).
        active = active.with_for_update()
    if not [other for other in db.session.scalars(active) if other != admin.id]:
        raise AdminRefused(
            [Problem("", f"{admin.email} is the last active admin: add or enable another admin before you {verb} them")]
        )
