"""flask admins: partner admins, who are never tenant users."""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from oidc_provider.cli.output import fail, json_option, report
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import hash_password
from oidc_provider.core.models import Admin
from oidc_provider.directory.store import EMAIL_PATTERN, PASSWORD_MIN, normalize_email

group = AppGroup("admins", help="Manage partner admins.")


@group.command("create")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@json_option
def create(email, password, as_json):
    """Create a partner admin for the console."""
    email = normalize_email(email)
    if not EMAIL_PATTERN.fullmatch(email):
        fail(f"{email!r} is not an email address")
    if len(password) < PASSWORD_MIN:
        fail(f"the password needs at least {PASSWORD_MIN} characters")
    if db.session.scalar(select(Admin).where(Admin.email == email)):
        fail(f"an admin with email {email!r} already exists")
    admin = Admin(email=email, password_hash=hash_password(password))
    db.session.add(admin)
    record_event("admin_created", "cli", {"email": email})
    db.session.commit()
    report({"email": email, "id": admin.id}, as_json, f"created admin {email}")
