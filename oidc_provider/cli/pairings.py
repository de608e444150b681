"""flask pairings: every pairing (OpenID Connect and Custom); an admin's answer to an
asynchronous one; ending one here."""

import getpass

import click
from sqlalchemy import select

from oidc_provider.cli.output import CommandGroup, fail, json_option, report
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Client, Pairing
from oidc_provider.pairing import records
from oidc_provider.pairing.lifecycle import PairingConflict, decide, unpair
from oidc_provider.servicetitan.environments import ENVIRONMENTS
from oidc_provider.servicetitan.statuses import PROCESSING, RECORD_STATUSES

group = CommandGroup("pairings", help="List pairings; approve or decline asynchronous ones; unpair.")


def _line(data: dict) -> str:
    account = data["account"]["id"] if data["account"] else "-"
    line = (
        f"{data['id']:>6}  {data['mechanism']:7} {data['environment']:10} {data['status']:10} "
        f"{data['requestId'] or '-'}  {account}"
    )
    if data["unpairedReason"]:
        line += f"  ({data['unpairedReason']})"
    if error := data["servicetitanError"]:
        line += f"\n        ServiceTitan refused: {error.get('name')}. {error.get('advice', error.get('message', ''))}"
    return line


@group.command("list")
@click.option("--status", type=click.Choice(RECORD_STATUSES), help="Only this status.")
@click.option("--account", "account_id", help="Only this account's pairings (its id).")
@click.option("--environment", type=click.Choice(ENVIRONMENTS), help="Only this ServiceTitan environment.")
@json_option
def list_pairings(status, account_id, environment, as_json):
    """Every pairing, OpenID Connect and Custom, newest first."""
    pairings = list(db.session.scalars(records.query(status, account_id, environment)))
    data = records.describe_all(pairings)
    report(data, as_json, "\n".join(_line(d) for d in data) or "no pairings")


@group.command("unpair")
@click.argument("pairing_id", type=int)
@click.option("--actor", help="Recorded as who ended it. Default: cli:<your user name>.")
@json_option
def unpair_command(pairing_id, actor, as_json):
    """End a COMPLETED pairing here (UNPAIRED). ServiceTitan is not told: its document has no
    un-pairing call. Bookings for the account are refused until it is paired again."""
    pairing = records.find(pairing_id)
    if pairing is None:
        fail(f"no pairing with id {pairing_id}")
    try:
        unpair(pairing, actor or f"cli:{getpass.getuser()}")
    except PairingConflict as error:
        fail(str(error))
    [data] = records.describe_all([pairing])
    report(data, as_json, f"pairing {pairing_id} is UNPAIRED; ServiceTitan is not told")


def _pairing(request_id: str, client_id: str | None) -> Pairing:
    query = select(Pairing).join(Client).where(Pairing.request_id == request_id)
    if client_id:
        query = query.where(Client.client_id == client_id)
    found = list(db.session.scalars(query))
    if not found:
        fail(f"no pairing with request id {request_id!r}")
    if len(found) > 1:
        fail(f"several clients have request id {request_id!r}: name one with --client")
    return found[0]


def _decide(request_id: str, client_id: str | None, approved: bool, actor: str | None, as_json: bool) -> None:
    pairing = _pairing(request_id, client_id)
    if pairing.status != PROCESSING:
        fail(f"pairing {request_id!r} is {pairing.status}: only a PROCESSING pairing can be decided")
    try:
        decide(pairing, approved, actor or f"cli:{getpass.getuser()}")
    except PairingConflict as error:
        fail(str(error))
    [data] = records.describe_all([pairing])
    report(data, as_json, f"pairing {request_id} is {pairing.status}; ServiceTitan will be told by the outbox")


_client_option = click.option("--client", "client_id", help="The client's client_id, when request ids collide.")
_actor_option = click.option("--actor", help="Recorded as the decider. Default: cli:<your user name>.")


@group.command("approve")
@click.argument("request_id")
@_client_option
@_actor_option
@json_option
def approve(request_id, client_id, actor, as_json):
    """Complete an asynchronous pairing: ServiceTitan receives COMPLETED with the account
    (DECLINED if the account is not eligible or has no profiles)."""
    _decide(request_id, client_id, True, actor, as_json)


@group.command("decline")
@click.argument("request_id")
@_client_option
@_actor_option
@json_option
def decline(request_id, client_id, actor, as_json):
    """Decline an asynchronous pairing: ServiceTitan receives DECLINED."""
    _decide(request_id, client_id, False, actor, as_json)
