"""flask api-clients: the partner's own systems that call /api/v1 (docs/partner-api.md)."""

import click

from oidc_provider.cli.output import (
    CommandGroup,
    fail,
    grace_period_option,
    json_option,
    report,
    report_new_secret,
)
from oidc_provider.core.models import ApiClient
from oidc_provider.core.problems import ProblemError
from oidc_provider.oidc.api_clients import (
    API_SCOPES,
    create_api_client,
    describe,
    find_api_client,
    list_api_clients,
    revoke_api_client,
    rotate_api_client_secret,
)

group = CommandGroup("api-clients", help="Partner API clients: the partner's systems calling /api/v1.")


def _api_client(client_id: str) -> ApiClient:
    client = find_api_client(client_id)
    if client is None:
        fail(f"no API client with client_id {client_id!r}")
    return client


@group.command("create")
@click.option("--name", required=True, help="Who calls: it names the client in the audit log.")
@click.option("--scope", required=True, help=f"Space-separated, from: {' '.join(API_SCOPES)}.")
@json_option
def create(name, scope, as_json):
    """Create an API client and print its client_id and client_secret.

    The secret is shown this once and stored only as a hash."""
    try:
        client, secret = create_api_client(name, scope)
    except ProblemError as error:
        fail(str(error))
    report(
        {**describe(client), "client_secret": secret},
        as_json,
        f"client_id:     {client.client_id}\nclient_secret: {secret}\n(the secret is not shown again)",
    )


@group.command("list")
@json_option
def list_clients(as_json):
    """List the API clients (never their secrets)."""
    clients = [describe(client) for client in list_api_clients()]
    lines = "\n".join(
        f"{c['client_id']}  {'revoked' if c['revoked_at'] else 'active '}  {c['name']}  ({c['scope']})" for c in clients
    )
    report(clients, as_json, lines or "no API clients")


@group.command("rotate-secret")
@click.argument("client_id")
@grace_period_option
@json_option
def rotate(client_id, grace_period, as_json):
    """Give an API client a new secret and print it once."""
    client = _api_client(client_id)
    try:
        secret = rotate_api_client_secret(client, grace_period)
    except ProblemError as error:
        fail(str(error))
    report_new_secret(client_id, secret, grace_period, as_json)


@group.command("revoke")
@click.argument("client_id")
@json_option
def revoke(client_id, as_json):
    """End an API client: its secret and every token it holds stop working at once."""
    client = _api_client(client_id)
    revoke_api_client(client)
    report(describe(client), as_json, f"revoked {client_id}")
