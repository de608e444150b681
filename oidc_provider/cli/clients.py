"""flask clients: register ServiceTitan (or any relying party) and manage its secret."""

import click
from sqlalchemy import select

from oidc_provider.cli.output import (
    CommandGroup,
    fail,
    grace_period_option,
    json_option,
    report,
    report_new_secret,
)
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Client
from oidc_provider.oidc.client_registry import (
    ID_TOKEN_ALGS,
    ClientSettings,
    ClientSettingsError,
    create_client,
    delete_client,
    describe,
    find_client,
    rotate_secret,
    set_enabled,
)

group = CommandGroup("clients", help="Register relying parties such as ServiceTitan.")


def _client(client_id: str) -> Client:
    client = find_client(client_id)
    if client is None:
        fail(f"no client with client_id {client_id!r}")
    return client


@group.command("create")
@click.option("--name", required=True, help="Shown to tenants on the consent page.")
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    required=True,
    help="ServiceTitan's Callback URL, exactly. Repeat for several.",
)
@click.option("--scope", default="openid", show_default=True, help="Space-separated scopes.")
@click.option("--id-token-alg", type=click.Choice(ID_TOKEN_ALGS), default="RS256", show_default=True)
@click.option("--account-info-claim", is_flag=True, help="Put accountInfo in the id_token: pairing ends there.")
@click.option("--async-pairing", is_flag=True, help="Answer PROCESSING; an admin completes the pairing later.")
@click.option("--no-remember-consent", is_flag=True, help="Ask for consent on every pairing.")
@json_option
def create(name, redirect_uris, scope, id_token_alg, account_info_claim, async_pairing, no_remember_consent, as_json):
    """Register a client and print its client_id and client_secret.

    The secret is shown this once and stored only as a hash (HS256 clients: encrypted).
    """
    settings = ClientSettings(
        name=name,
        redirect_uris=list(redirect_uris),
        scope=scope,
        id_token_alg=id_token_alg,
        account_info_claim=account_info_claim,
        async_pairing=async_pairing,
        remember_consent=not no_remember_consent,
    )
    try:
        client, secret = create_client(settings)
    except ClientSettingsError as error:
        fail(str(error))
    data = {**describe(client), "client_secret": secret}
    report(
        data, as_json, f"client_id:     {client.client_id}\nclient_secret: {secret}\n(the secret is not shown again)"
    )


@group.command("list")
@json_option
def list_clients(as_json):
    """List the registered clients."""
    clients = [describe(c) for c in db.session.scalars(select(Client).order_by(Client.created_at))]
    lines = "\n".join(f"{c['client_id']}  {'enabled ' if c['enabled'] else 'disabled'}  {c['name']}" for c in clients)
    report(clients, as_json, lines or "no clients")


@group.command("show")
@click.argument("client_id")
@json_option
def show(client_id, as_json):
    """Show one client's settings (never its secret)."""
    report(describe(_client(client_id)), as_json)


@group.command("rotate-secret")
@click.argument("client_id")
@grace_period_option
@json_option
def rotate(client_id, grace_period, as_json):
    """Give a client a new secret and print it once."""
    client = _client(client_id)
    try:
        secret = rotate_secret(client, grace_period)
    except ClientSettingsError as error:
        fail(str(error))
    report_new_secret(client_id, secret, grace_period, as_json)


@group.command("disable")
@click.argument("client_id")
@json_option
def disable(client_id, as_json):
    """Refuse every request of a client until it is enabled again."""
    client = _client(client_id)
    set_enabled(client, False)
    report(describe(client), as_json, f"disabled {client_id}")


@group.command("enable")
@click.argument("client_id")
@json_option
def enable(client_id, as_json):
    """Accept a disabled client's requests again."""
    client = _client(client_id)
    set_enabled(client, True)
    report(describe(client), as_json, f"enabled {client_id}")


@group.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def delete(client_id, yes, as_json):
    """Delete a client with its codes, tokens, consents and pairings."""
    client = _client(client_id)
    if not yes:
        click.confirm(f"Delete client {client.name!r} ({client_id}) and all its pairings?", abort=True)
    delete_client(client)
    report({"deleted": client_id}, as_json, f"deleted {client_id}")
