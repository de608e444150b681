"""flask directory: load the tenants who may sign in and the accounts they may pair."""

import json
import sys

import click
from flask.cli import AppGroup

from oidc_provider.cli.output import fail, json_option, report
from oidc_provider.core import json_limits
from oidc_provider.core.problems import ProblemError
from oidc_provider.directory.store import DirectoryImportError, import_directory

group = AppGroup("directory", help="Manage the tenant directory.")

# Hashing passwords is the slow part of an import; show progress past this many users.
_PROGRESS_THRESHOLD = 20


@group.command("import")
@click.argument("file", type=click.File("rb"))
@json_option
def import_file(file, as_json):
    """Upsert accounts, profiles and users from FILE (JSON).

    A bad file is refused whole, with every problem listed; nothing is half-written.
    """
    try:
        document = json_limits.loads(file.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        fail(f"{file.name} is not valid JSON: {error}")
    except ProblemError as error:
        fail(f"{file.name} was not imported: " + "; ".join(map(str, error.problems)))
    users = document.get("users", []) if isinstance(document, dict) else []

    def progress(items):
        if as_json or not isinstance(users, list) or len(users) < _PROGRESS_THRESHOLD:
            yield from items
            return
        with click.progressbar(items, label="Importing users", file=sys.stderr) as bar:
            yield from bar

    try:
        result = import_directory(document, progress=progress)
    except DirectoryImportError as error:
        fail(
            f"{file.name} was not imported ({len(error.problems)} problems):\n  "
            + "\n  ".join(map(str, error.problems))
        )
    data = {"accounts": result.accounts, "profiles": result.profiles, "users": result.users}
    report(data, as_json, f"imported {result.accounts} accounts, {result.profiles} profiles, {result.users} users")
