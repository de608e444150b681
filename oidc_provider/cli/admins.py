"""flask admins: partner admins, who are never tenant users."""

import click

from oidc_provider.cli.output import CommandGroup, fail, json_option, report
from oidc_provider.core.models import Admin
from oidc_provider.core.problems import ProblemError
from oidc_provider.directory import admins

group = CommandGroup("admins", help="Manage partner admins: there is always one active admin at least.")
_admin_argument = click.argument("email")
_actor_option = click.option("--actor", default="cli", show_default=True, help="Recorded in the audit log.")


def _describe(admin: Admin) -> dict:
    return {
        "id": admin.id,
        "email": admin.email,
        "active": admin.active,
        "created_at": admin.created_at.isoformat(),
        "disabled_at": admin.disabled_at.isoformat() if admin.disabled_at else None,
    }


def _find(email: str) -> Admin:
    admin = admins.find_admin(email)
    if admin is None:
        fail(f"no admin with email {email!r}")
    return admin


def _refused(error: ProblemError) -> None:
    fail("; ".join(problem.message for problem in error.problems))


@group.command("create")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@json_option
def create(email, password, as_json):
    """Create a partner admin for the console."""
    try:
        admin = admins.create_admin(email, password, "cli")
    except ProblemError as error:
        _refused(error)
    report({"email": admin.email, "id": admin.id}, as_json, f"created admin {admin.email}")


@group.command("list")
@json_option
def list_admins(as_json):
    """Every admin, active ones first."""
    rows = [_describe(admin) for admin in admins.admins()]
    lines = [f"{row['email']}  {'active' if row['active'] else 'disabled'}" for row in rows]
    report(rows, as_json, "\n".join(lines) or "no admins yet: create one with `admins create`")


@group.command("disable")
@_admin_argument
@_actor_option
@json_option
def disable(email, actor, as_json):
    """Disable the admin EMAIL: signed out everywhere at once, and no sign-in until enabled.
    Refused for the last active admin."""
    try:
        admin = admins.disable(_find(email), actor)
    except ProblemError as error:
        _refused(error)
    report(_describe(admin), as_json, f"disabled admin {admin.email}; their sessions have ended")


@group.command("enable")
@_admin_argument
@_actor_option
@json_option
def enable(email, actor, as_json):
    """Let the disabled admin EMAIL sign in again."""
    try:
        admin = admins.enable(_find(email), actor)
    except ProblemError as error:
        _refused(error)
    report(_describe(admin), as_json, f"enabled admin {admin.email}")


@group.command("reset-password")
@_admin_argument
@click.option("--password", prompt="New password", hide_input=True, confirmation_prompt=True)
@_actor_option
@json_option
def reset_password(email, password, actor, as_json):
    """Give the admin EMAIL a new password; their sessions end at once."""
    try:
        admin = admins.reset_password(_find(email), password, actor)
    except ProblemError as error:
        _refused(error)
    report(_describe(admin), as_json, f"new password set for {admin.email}; their sessions have ended")


@group.command("remove")
@_admin_argument
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_actor_option
@json_option
def remove(email, yes, actor, as_json):
    """Remove the admin EMAIL. Refused for the last active admin."""
    admin = _find(email)
    if not yes:
        click.confirm(f"Remove admin {admin.email}? They are signed out everywhere", abort=True, default=False)
    described = _describe(admin)
    try:
        admins.remove(admin, actor)
    except ProblemError as error:
        _refused(error)
    report(described, as_json, f"removed admin {described['email']}")
