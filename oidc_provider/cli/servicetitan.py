"""flask servicetitan: where ServiceTitan's Leads API is, and our credentials there."""

import sys

import click
import requests
from flask import current_app

from oidc_provider.cli.output import CommandGroup, fail, json_option, report
from oidc_provider.core.extensions import db
from oidc_provider.oidc import preflight
from oidc_provider.servicetitan import environments
from oidc_provider.servicetitan.errors import LeadsApiError
from oidc_provider.servicetitan.leads_api import request_token

group = CommandGroup("servicetitan", help="Configure the ServiceTitan environments the partner calls.")
_environment = click.argument("environment", type=click.Choice(environments.ENVIRONMENTS))


@group.command("configure")
@_environment
@click.option("--identity-url", help="Token server base URL (without /connect/token).")
@click.option("--api-url", help="Leads API base URL.")
@click.option("--client-id", help="The API client id ServiceTitan issued.")
@click.option("--client-secret-stdin", is_flag=True, help="Read the client secret from the first line of stdin.")
@json_option
def configure(environment, identity_url, api_url, client_id, client_secret_stdin, as_json):
    """Store URLs and credentials for ENVIRONMENT. The sandbox's URLs default to
    ServiceTitan's documented ones; production has no default and must be given."""
    secret = sys.stdin.readline().strip() if client_secret_stdin else None
    if client_secret_stdin and not secret:
        fail("no client secret on stdin")
    try:
        environments.configure(
            environment, identity_url=identity_url, api_url=api_url, client_id=client_id, client_secret=secret
        )
    except ValueError as error:
        fail(str(error))
    db.session.commit()
    data = environments.describe(environment)
    report(data, as_json, _lines(data))


@group.command("show")
@json_option
def show(as_json):
    """Both environments (never the secret) and the default one."""
    data = {
        "default_environment": environments.default_environment(),
        "environments": [environments.describe(name) for name in environments.ENVIRONMENTS],
    }
    text = f"default: {data['default_environment']}\n\n" + "\n\n".join(_lines(e) for e in data["environments"])
    report(data, as_json, text)


@group.command("check")
@_environment
@json_option
def check(environment, as_json):
    """Ask ENVIRONMENT's token server for a token: proves the URL and credentials."""
    try:
        settings = environments.resolve(environment)
        token = request_token(settings, requests.Session(), current_app.config["SERVICETITAN_TIMEOUT"])
    except LeadsApiError as error:
        fail(str(error))
    data = {"environment": environment, "token_expires_at": token.expires_at.isoformat()}
    report(data, as_json, f"{environment}: token obtained, valid until {data['token_expires_at']}")


@group.command("preflight")
@_environment
@json_option
def preflight_command(environment, as_json):
    """Check everything ServiceTitan's ENVIRONMENT will meet before going live: the issuer
    and discovery, signing keys, the client and its Callback URL, the Leads API credentials,
    webhooks, job types and extra details, the outbox, the Custom pairing URL. Exits 1 when
    any check finds a problem, so a deploy pipeline can stop on it."""
    checks = preflight.run(environment)
    data = preflight.report(environment, checks)
    lines = [f"{environment}: {'ready' if data['ok'] else 'NOT ready'}"]
    for check in checks:
        lines.append(f"  [{check.status}] {check.title}: {check.detail}")
        if check.todo:
            lines.append(f"         what to do: {check.todo}")
    report(data, as_json, "\n".join(lines))
    if not data["ok"]:
        sys.exit(1)


def _lines(data: dict) -> str:
    return "\n".join(
        [
            f"{data['environment']}:",
            f"  identity_url  {data['identity_url'] or '(not set)'}",
            f"  api_url       {data['api_url'] or '(not set)'}",
            f"  client_id     {data['client_id'] or '(not set)'}",
            f"  client_secret {'set' if data['client_secret_set'] else '(not set)'}",
        ]
    )
