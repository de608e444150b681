"""flask purge: delete expired codes, old tokens, expired consents and old events."""

import click
from flask.cli import with_appcontext

from oidc_provider.cli.output import Command, json_option, report
from oidc_provider.core.purge import purge


@click.command("purge", cls=Command)
@json_option
@with_appcontext
def purge_command(as_json):
    """Delete expired authorization codes, access tokens expired or revoked longer ago than
    OIDC_PROVIDER_PURGE_RETENTION, expired consents, and events older than
    OIDC_PROVIDER_EVENT_RETENTION. Run it daily (cron, a systemd
    timer); it is safe to run on any instance at any time. Tenant sessions are cookies in
    the browsers: there is nothing of theirs to delete."""
    counts = purge().as_dict()
    report(counts, as_json, "deleted " + ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items()))
