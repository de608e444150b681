"""flask pairings: asynchronous pairings waiting for an admin's answer."""

import getpass

import click
from sqlalchemy import select

from oidc_provider.cli.output import CommandGroup, fail, json_option, report
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Client, Pairing
from oidc_provider.pairing.lifecycle import PairingConflict, decide
from oidc_provider.servicetitan.statuses import PROCESSING

group = CommandGroup("pairings", help="List pairings; approve or decline asynchronous ones.")


def _describe(pairing: Pairing) -> dict:
    """A pairing in ServiceTitan's vocabulary (requestId, accountId, status)."""
    return {
        "requestId": pairing.request_id,
        "clientId": pairing.client.client_id,
        "user": pairing.user.email,
        "accountId": pairing.account_id,
        "status": pairing.status,
        "createdAt": pairing.created_at.isoformat(),
        "decidedAt": pairing.decided_at.isoformat() if pairing.decided_at else None,
        "decidedBy": pairing.decided_by,
    }


@group.command("list")
@click.option("--status", type=click.Choice(["COMPLETED", "DECLINED", "PROCESSING"]), help="Only this status.")
@json_option
def list_pairings(status, as_json):
    """Pairings, newest first."""
    query = select(Pairing).order_by(Pairing.id.desc())
    if status:
        query = query.where(Pairing.status == status)
    data = [_describe(p) for p in db.session.scalars(query)]
    lines = [f"{d['requestId'] or '-'}  {d['status']:10} {d['accountId']}  {d['user']}" for d in data]
    report(data, as_json, "\n".join(lines) or "no pairings")


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
    data = _describe(pairing)
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
    (DECLINED if the account is not eligible)."""
    _decide(request_id, client_id, True, actor, as_json)


@group.command("decline")
@click.argument("request_id")
@_client_option
@_actor_option
@json_option
def decline(request_id, client_id, actor, as_json):
    """Decline an asynchronous pairing: ServiceTitan receives DECLINED."""
    _decide(request_id, client_id, False, actor, as_json)
