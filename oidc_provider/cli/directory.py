"""flask directory: load the tenants who may sign in and the accounts they may pair, and
take them out again — as JSON or as the console's CSV files."""

import json
import sys

import click

from oidc_provider.cli.output import CommandGroup, fail, json_option, report
from oidc_provider.core import json_limits
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.directory.csv_format import accounts_csv, document_from_csv, users_csv
from oidc_provider.directory.store import DirectoryImportError, export_directory, import_directory

group = CommandGroup("directory", help="Manage the tenant directory.")

# Hashing passwords is the slow part of an import; show progress past this many users.
_PROGRESS_THRESHOLD = 20

_EXPORTS = {
    "json": lambda document: json.dumps(document, indent=2),
    "accounts-csv": accounts_csv,
    "users-csv": users_csv,
}


@group.command("import")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["json", "csv"]),
    help="Default: csv for a FILE named *.csv, else json.",
)
@json_option
def import_file(file, file_format, as_json):
    """Upsert accounts, profiles and users from FILE (- reads stdin): the JSON document,
    or a CSV file of accounts or of users as the console imports and exports them.

    A bad file is refused whole, with every problem listed; nothing is half-written.
    """
    name = getattr(file, "name", "<stdin>")
    file_format = file_format or ("csv" if name.lower().endswith(".csv") else "json")
    try:
        document = (
            document_from_csv(file.read().decode("utf-8")) if file_format == "csv" else json_limits.loads(file.read())
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        fail(f"{name} is not valid {file_format.upper()}: {error}")
    except ProblemError as error:  # a CSV that is not a directory, or JSON nested too deep
        _refuse(name, error.problems)
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
        _refuse(name, error.problems)
    record_event(
        "directory_imported",
        "cli",
        {"file": name, "accounts": result.accounts, "profiles": result.profiles, "users": result.users},
    )
    db.session.commit()
    data: dict = {"accounts": result.accounts, "profiles": result.profiles, "users": result.users}
    if result.warnings:
        data["warnings"] = [warning.as_dict() for warning in result.warnings]
    if not as_json:
        for warning in result.warnings:
            click.echo(f"warning: {warning.where}: {warning.message}", err=True)
    report(data, as_json, f"imported {result.accounts} accounts, {result.profiles} profiles, {result.users} users")


def _refuse(name: str, problems: list[Problem]) -> None:
    fail(f"{name} was not imported ({len(problems)} problems)", problems)


@group.command("export")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(list(_EXPORTS)),
    default="json",
    show_default=True,
    help="The import's JSON document, or the console's accounts or users CSV file.",
)
@click.option("--output", "-o", type=click.File("w"), default="-", help="Write to this file instead of stdout.")
@json_option
def export(file_format, output, as_json):
    """Write every account and user in a form that `directory import` takes back (to
    stdout, or to --output FILE and then say what was written).

    Users carry their password hash, never a password: keep the file as you would a
    password database. Each export is recorded in the audit log.
    """
    document = export_directory()
    record_event("directory_exported", "cli", {"file": output.name, "format": file_format})
    db.session.commit()
    output.write(_EXPORTS[file_format](document))
    if output.name != "<stdout>":
        data = {
            "file": output.name,
            "format": file_format,
            "accounts": len(document["accounts"]),
            "users": len(document["users"]),
        }
        report(data, as_json, f"wrote {data['accounts']} accounts and {data['users']} users to {output.name}")
