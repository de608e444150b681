"""How every command reports: plain lines for people, ``--json`` for scripts."""

import json

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def report(data, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(text if text is not None else json.dumps(data, indent=2, default=str))


def fail(message: str) -> None:
    """Exit non-zero with a message that names the problem."""
    raise click.ClickException(message)
