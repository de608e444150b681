"""How every command reports: plain lines for people, ``--json`` for scripts.

With ``--json`` a command prints its result as one JSON document on stdout and, when it
fails, one JSON object on stderr with a non-zero exit status::

    {"error": "the file was not imported", "problems": [{"where": "line 3", "message": "..."}]}

whether the command refused its input, click refused the command line (a missing
argument, an unknown option) or the database could not be used. ``CommandGroup`` and
``Command`` arrange the last two.
"""

import json
from collections.abc import Iterable

import click
from flask.cli import AppGroup
from sqlalchemy.exc import OperationalError, ProgrammingError

from oidc_provider.core.problems import Problem

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result (or the error) as JSON.")
#: ``rotate-secret`` of both kinds of client (relying parties and partner API clients).
grace_period_option = click.option(
    "--grace-period", type=int, default=0, show_default=True, help="Seconds during which the old secret still works."
)

_JSON_REQUESTED = "oidc_provider.cli.json"


def report(data, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(text if text is not None else json.dumps(data, indent=2, default=str))


def report_new_secret(client_id: str, secret: str, grace_period: int, as_json: bool) -> None:
    """A rotated client secret, shown this once."""
    report(
        {"client_id": client_id, "client_secret": secret, "grace_period": grace_period},
        as_json,
        f"client_secret: {secret}\n(the secret is not shown again)",
    )


class CommandError(click.ClickException):
    """A refusal: the message, and every problem found with its place."""

    def __init__(self, message: str, problems: Iterable[Problem] = (), as_json: bool = False, exit_code: int = 1):
        super().__init__(message)
        self.problems = list(problems)
        self.as_json = as_json
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        if self.as_json:
            document = {"error": self.message, "problems": [problem.as_dict() for problem in self.problems]}
            click.echo(json.dumps(document, sort_keys=True), err=True)
            return
        heading = f"{self.message}:" if self.problems else self.message
        click.echo("Error: " + "\n".join([heading, *(f"  {problem}" for problem in self.problems)]), err=True)


def fail(message: str, problems: Iterable[Problem] = ()) -> None:
    """Exit non-zero with a message that names the problem, and the problems one by one."""
    context = click.get_current_context(silent=True)
    as_json = bool(context and (context.params.get("as_json") or context.meta.get(_JSON_REQUESTED)))
    raise CommandError(message, problems, as_json)


def _refusal(error: Exception, as_json: bool) -> CommandError | None:
    """The ``CommandError`` that reports ``error`` (click's refusal of a command line, or a
    database that cannot be used) the way the command was asked to; None for others."""
    if isinstance(error, CommandError):
        return None
    if isinstance(error, click.ClickException):
        if not as_json:
            return None
        return CommandError(error.format_message(), as_json=True, exit_code=error.exit_code)
    if isinstance(error, OperationalError | ProgrammingError):
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        message = (
            f"the database cannot be used ({reason}): is it reachable, "
            "and has `flask --app oidc_provider db upgrade` been run?"
        )
        return CommandError(message, as_json=as_json)
    return None


class Command(click.Command):
    """A command outside any group (``flask purge``) that reports click's refusals of its
    command line, and an unusable database, like every other command."""

    def make_context(self, info_name, args, parent=None, **extra):
        as_json = "--json" in args  # before parsing, which consumes the list
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except Exception as error:
            if (refusal := _refusal(error, as_json)) is None:
                raise
            raise refusal from error

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as error:
            if (refusal := _refusal(error, bool(ctx.params.get("as_json")))) is None:
                raise
            raise refusal from error


class CommandGroup(AppGroup):
    """A command group whose commands report click's refusals of their command line (as
    JSON, given ``--json``), and an unusable database, as a refusal rather than a
    traceback. Its subgroups are ``CommandGroup``\\ s too."""

    group_class = type

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Everything after the group's name, the command's options included.
        ctx.meta[_JSON_REQUESTED] = ctx.meta.get(_JSON_REQUESTED) or "--json" in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as error:
            if (refusal := _refusal(error, bool(ctx.meta.get(_JSON_REQUESTED)))) is None:
                raise
            raise refusal from error
