"""The pairing lifecycle: COMPLETED, DECLINED or PROCESSING, and the request id that names it.

A pairing is recorded when a code is exchanged, bound to the access token that the exchange
issued. ServiceTitan's account-info call then attaches its request id; asynchronous clients
answer PROCESSING until an admin decides.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import clock
from .audit import record_event
from .claims import COMPLETED, DECLINED, PROCESSING
from .extensions import db
from .models import AccessToken, Account, Client, Pairing
from .servicetitan.environments import default_environment
from .servicetitan.outbox import enqueue_account_status

REQUEST_ID_MAX = 128


class PairingConflict(Exception):
    """A request id that is bound to another access token, or a token bound to another id."""


def initial_status(client: Client, account: Account) -> str:
    if not account.eligible:
        return DECLINED
    if client.async_pairing:
        return PROCESSING
    return COMPLETED


def record_pairing(token: AccessToken) -> Pairing:
    """Add the pairing that ``token`` creates (the token endpoint's transaction commits it)."""
    now = clock.now()
    pairing = Pairing(
        client_pk=token.client_pk,
        user_id=token.user_id,
        # The relationship, not only its id: the id_token's accountInfo claim reads
        # ``pairing.account`` before the token endpoint's transaction flushes.
        account=token.account,
        status=initial_status(token.client, token.account),
        created_at=now,
        updated_at=now,
    )
    pairing.access_token_id = token.id
    db.session.add(pairing)
    record_event("pairing_created", token.user.email, {
        "client_id": token.client.client_id, "account_id": token.account.id, "status": pairing.status,
    })
    return pairing


def pairing_for_request(token: AccessToken, request_id: str) -> Pairing:
    """The token's pairing, bound to ``request_id``: the same token and request id answer
    the same again; a request id already bound to another token is refused. The binding is
    flushed, not committed: the caller answers from the loaded rows, then commits."""
    pairing = db.session.scalar(select(Pairing).where(Pairing.access_token_id == token.id))
    if pairing is None:
        raise PairingConflict("This access token did not create a pairing.")
    if pairing.request_id == request_id:
        return pairing
    if pairing.request_id is not None:
        raise PairingConflict("This access token is already bound to another request_id.")
    tenant_email = pairing.user.email  # loaded before the change: a load would flush it early
    pairing.request_id = request_id
    pairing.updated_at = clock.now()
    record_event("pairing_request_id_bound", tenant_email, {
        "pairing_id": pairing.id, "request_id": request_id, "account_id": pairing.account_id, "status": pairing.status,
    })
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise PairingConflict("This request_id is already bound to another access token.") from None
    return pairing


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
    if pairing.request_id is not None:
        enqueue_account_status(
            pairing.client.servicetitan_environment or default_environment(),
            pairing.request_id,
            pairing.status,
            pairing.account if pairing.status == COMPLETED else None,
        )
    db.session.commit()
    return pairing
