"""``flask --app oidc_provider version``: which release is installed."""

import click

from oidc_provider.cli.output import json_option, report
from oidc_provider.core.release import VERSION


@click.command("version")
@json_option
def version_command(as_json):
    """Print the installed release (as /healthz reports it)."""
    report({"version": VERSION}, as_json, text=VERSION)
