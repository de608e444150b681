"""The pairing lifecycle: COMPLETED, DECLINED or PROCESSING, and the request id that names it.

A pairing is recorded when a code is exchanged, bound to the access token that the exchange
issued. ServiceTitan's account-info call then attaches its request id; asynchronous clients
answer PROCESSING until an admin decides.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from oidc_provider.core import clock
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.models import AccessToken, Account, Client, Pairing, TenantUser
from oidc_provider.directory import account_directory
from oidc_provider.servicetitan import events
from oidc_provider.servicetitan.environments import default_environment
from oidc_provider.servicetitan.outbox import enqueue_account_status
from oidc_provider.servicetitan.statuses import COMPLETED, DECLINED, PROCESSING

_pairings = cast(Table, Pairing.__table__)
# Both writes happen on every pairing, on the paths ServiceTitan waits on: prebuilt Core
# statements, without the unit of work (see docs/performance.md).
_INSERT_PAIRING = insert(_pairings).returning(_pairings.c.id)
# Bound once: of two calls with different request ids at the same moment, one binds.
_BIND_REQUEST_ID = (
    update(_pairings)
    .where(_pairings.c.id == bindparam("pairing_id"), _pairings.c.request_id.is_(None))
    .values(request_id=bindparam("request_id"), updated_at=bindparam("now"))
)
_SELECT_REQUEST_ID = select(_pairings.c.request_id).where(_pairings.c.id == bindparam("pairing_id"))


class PairingConflict(Exception):
    """A request id that is bound to another access token, or a token bound to another id."""


def initial_status(client: Client, account: Account) -> str:
    if not account.eligible:
        return DECLINED
    if client.async_pairing:
        return PROCESSING
    return COMPLETED


def record_pairing(client: Client, user: TenantUser, account: Account, access_token_id: int) -> Pairing:
    """Write the pairing that an access token creates, in the token endpoint's transaction.
    Answers it detached, with its account, for the id_token's accountInfo claim."""
    now = clock.now()
    values = {
        "client_pk": client.id,
        "user_id": user.id,
        "account_id": account.id,
        "access_token_id": access_token_id,
        "status": initial_status(client, account),
        "created_at": now,
        "updated_at": now,
    }
    pairing_id = db.session.execute(_INSERT_PAIRING, values).scalar_one()
    pairing = Pairing(id=pairing_id, account=account, **values)
    record_event(
        "pairing_created",
        user.email,
        {
            "client_id": client.client_id,
            "account_id": account.id,
            "status": pairing.status,
        },
    )
    events.pairing_changed(pairing.status, _event_data(pairing, client))
    return pairing


def _event_data(pairing: Pairing, client: Client) -> dict:
    environment = client.servicetitan_environment or default_environment()
    return {
        "pairingId": pairing.id,
        "mechanism": "openid",
        "requestId": pairing.request_id,
        "accountId": pairing.account_id,
        "environment": environment,
    }


def pairing_for_request(token: AccessToken, request_id: str) -> Pairing:
    """The token's pairing (read with it, see ``Base64BearerTokenValidator``), bound to
    ``request_id``: the same token and request id answer the same again; a request id
    already bound to another token is refused. The caller commits."""
    pairing = token.pairing
    if pairing is None:
        raise PairingConflict("This access token did not create a pairing.")
    if pairing.request_id != request_id:
        _bind(pairing, token.user.email, request_id)
    [pairing.account] = account_directory().with_profiles([token.account])
    return pairing


def _bind(pairing: Pairing, tenant_email: str, request_id: str) -> None:
    if pairing.request_id is not None:
        raise PairingConflict("This access token is already bound to another request_id.")
    try:
        bound = cast(
            CursorResult,
            db.session.execute(
                _BIND_REQUEST_ID, {"pairing_id": pairing.id, "request_id": request_id, "now": clock.now()}
            ),
        ).rowcount
    except IntegrityError:
        db.session.rollback()
        raise PairingConflict("This request_id is already bound to another access token.") from None
    if not bound:
        # Another call bound this token a moment ago: with this request id, the same answer.
        if db.session.scalar(_SELECT_REQUEST_ID, {"pairing_id": pairing.id}) != request_id:
            raise PairingConflict("This access token is already bound to another request_id.")
        pairing.request_id = request_id
        return
    pairing.request_id = request_id
    record_event(
        "pairing_request_id_bound",
        tenant_email,
        {
            "pairing_id": pairing.id,
            "request_id": request_id,
            "account_id": pairing.account_id,
            "status": pairing.status,
        },
    )


def decide(pairing: Pairing, approved: bool, actor: str) -> Pairing:
    """An admin's answer to an asynchronous pairing. Approving an account that is not
    eligible still declines it: ServiceTitan must not receive an account we refuse.

    Once ServiceTitan has a request id, the answer is queued for it (COMPLETED with the
    account, or DECLINED) in the same transaction; before that, account-info answers it.
    The row is locked first, so two admins deciding at once send one answer."""
    db.session.refresh(pairing, with_for_update=True)
    if pairing.status != PROCESSING:
        raise PairingConflict(f"Only a PROCESSING pairing can be decided; this one is {pairing.status}.")
    now = clock.now()
    pairing.status = COMPLETED if approved and pairing.account.eligible else DECLINED
    pairing.decided_at = now
    pairing.decided_by = actor
    pairing.updated_at = now
    record_event(
        "pairing_approved" if pairing.status == COMPLETED else "pairing_declined",
        actor,
        {"pairing_id": pairing.id, "request_id": pairing.request_id, "account_id": pairing.account_id},
    )
    events.pairing_changed(pairing.status, _event_data(pairing, pairing.client))
    if pairing.request_id is not None:
        enqueue_account_status(
            pairing.client.servicetitan_environment or default_environment(),
            pairing.request_id,
            pairing.status,
            pairing.account if pairing.status == COMPLETED else None,
        )
    db.session.commit()
    return pairing
