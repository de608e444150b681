"""The pairing lifecycle: COMPLETED, DECLINED or PROCESSING, and the request id that names it.

An OpenID Connect pairing is recorded when a code is exchanged, bound to the access token
that the exchange issued. ServiceTitan's account-info call then attaches its request id;
asynchronous clients answer PROCESSING until an admin decides.

Rules shared by both mechanisms (``custom`` is the other): an account without profiles is
never COMPLETED (ServiceTitan's document makes profiles mandatory); a pairing that becomes
COMPLETED supersedes the account's earlier COMPLETED pairing in its environment, so an
account has one active pairing per environment; and a pairing can be ended here
(UNPAIRED), which ServiceTitan is not told, having no call for it.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from oidc_provider.core import clock
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.models import OPENID, AccessToken, Account, Client, Pairing, TenantUser
from oidc_provider.directory import account_directory
from oidc_provider.servicetitan import events
from oidc_provider.servicetitan.environments import default_environment
from oidc_provider.servicetitan.outbox import enqueue_account_status
from oidc_provider.servicetitan.statuses import COMPLETED, DECLINED, PROCESSING, UNPAIRED

#: Why a pairing is UNPAIRED (``Pairing.unpaired_reason``).
SUPERSEDED, ENDED = "superseded", "unpaired"

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
_SUPERSEDE = (
    update(_pairings)
    .where(
        _pairings.c.account_id == bindparam("of_account"),
        _pairings.c.environment == bindparam("in_environment"),
        _pairings.c.status == COMPLETED,
        _pairings.c.id != bindparam("pairing_id"),
    )
    .values(status=UNPAIRED, unpaired_reason=SUPERSEDED, updated_at=bindparam("now"))
    .returning(_pairings.c.id, _pairings.c.mechanism, _pairings.c.request_id)
)


class PairingConflict(Exception):
    """A request id that is bound to another access token, or a token bound to another id;
    a pairing whose status does not allow what was asked."""


def unpairable_reason(account: Account) -> str | None:
    """Why ``account`` (given its profiles) can never be COMPLETED, or None."""
    if not account.profiles:
        return "it has no profiles, and ServiceTitan requires at least one: ask your administrator to add one"
    return None


def acceptable_choice(accounts: list[Account], account: Account | None) -> bool:
    """Whether a pairing page may take ``account`` from a tenant offered ``accounts``: an
    account without profiles only when no account has any, since declining is then the
    only outcome."""
    if account is None or account not in accounts:
        return False
    return unpairable_reason(account) is None or all(unpairable_reason(a) for a in accounts)


def initial_status(client: Client, account: Account) -> str:
    """The status a code exchange records. The account's profiles are read only when it may
    be COMPLETED at once; an asynchronous pairing's are checked when an admin decides."""
    if not account.eligible:
        return DECLINED
    if client.async_pairing:
        return PROCESSING
    if unpairable_reason(account):
        return DECLINED
    return COMPLETED


def pairing_environment(client: Client) -> str:
    """The ServiceTitan environment of an OpenID Connect client's pairings."""
    return client.servicetitan_environment or default_environment()


def supersede_earlier(pairing: Pairing, actor: str) -> None:
    """``pairing`` has just become COMPLETED: the account's earlier COMPLETED pairing in the
    same environment ends (UNPAIRED, superseded). In the caller's transaction."""
    ended = db.session.execute(
        _SUPERSEDE,
        {
            "of_account": pairing.account_id,
            "in_environment": pairing.environment,
            "pairing_id": pairing.id,
            "now": clock.now(),
        },
    ).all()
    if ended:
        record_event(
            "pairing_superseded",
            actor,
            {"pairing_ids": [row.id for row in ended], "by_pairing_id": pairing.id, "account_id": pairing.account_id},
        )
    for row in ended:
        events.pairing_changed(
            UNPAIRED,
            {
                "pairingId": row.id,
                "mechanism": row.mechanism,
                "requestId": row.request_id,
                "accountId": pairing.account_id,
                "environment": pairing.environment,
                "unpairedReason": SUPERSEDED,
            },
        )


def record_pairing(client: Client, user: TenantUser, account: Account, access_token_id: int) -> Pairing:
    """Write the pairing that an access token creates, in the token endpoint's transaction.
    Answers it detached, with its account, for the id_token's accountInfo claim."""
    now = clock.now()
    if account.eligible and not client.async_pairing:
        # Only a pairing that may be COMPLETED needs them; the accountInfo claim reuses them.
        [account] = account_directory().with_profiles([account])
    values = {
        "mechanism": OPENID,
        "environment": pairing_environment(client),
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
    if pairing.status == COMPLETED:
        supersede_earlier(pairing, user.email)
    record_event(
        "pairing_created",
        user.email,
        {
            "client_id": client.client_id,
            "account_id": account.id,
            "status": pairing.status,
        },
    )
    events.pairing_changed(pairing.status, event_data(pairing))
    return pairing


def event_data(pairing: Pairing) -> dict:
    """What a ``pairing.*`` event says about ``pairing``."""
    return {
        "pairingId": pairing.id,
        "mechanism": pairing.mechanism,
        "requestId": pairing.request_id,
        "accountId": pairing.account_id,
        "environment": pairing.environment,
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
    client, account = pairing.client, pairing.account
    if client is None or account is None:
        raise PairingConflict("Only an OpenID Connect pairing is decided by an admin; a Custom one by its tenant.")
    if pairing.status != PROCESSING:
        raise PairingConflict(f"Only a PROCESSING pairing can be decided; this one is {pairing.status}.")
    now = clock.now()
    # The client's environment is where ServiceTitan waits, should it have been corrected since.
    pairing.environment = pairing_environment(client)
    pairing.status = COMPLETED if approved and account.eligible and not unpairable_reason(account) else DECLINED
    pairing.decided_at = now
    pairing.decided_by = actor
    pairing.updated_at = now
    record_event(
        "pairing_approved" if pairing.status == COMPLETED else "pairing_declined",
        actor,
        {"pairing_id": pairing.id, "request_id": pairing.request_id, "account_id": pairing.account_id},
    )
    if pairing.status == COMPLETED:
        supersede_earlier(pairing, actor)
    events.pairing_changed(pairing.status, event_data(pairing))
    if pairing.request_id is not None:
        enqueue_account_status(
            pairing.environment, pairing.request_id, pairing.status, account if pairing.status == COMPLETED else None
        )
    db.session.commit()
    return pairing


def unpair(pairing: Pairing, actor: str) -> Pairing:
    """End a COMPLETED pairing here: UNPAIRED, audited with ``actor``. Nothing is sent to
    ServiceTitan (its document has no un-pairing call); bookings for the account are
    refused until it is paired again. Commits."""
    ended = cast(
        CursorResult,
        db.session.execute(
            update(_pairings)
            .where(_pairings.c.id == pairing.id, _pairings.c.status == COMPLETED)
            .values(status=UNPAIRED, unpaired_reason=ENDED, unpaired_by=actor, updated_at=clock.now())
        ),
    ).rowcount
    if not ended:
        db.session.rollback()
        db.session.refresh(pairing)
        raise PairingConflict(f"Only a COMPLETED pairing can be unpaired; this one is {pairing.status}.")
    record_event(
        "pairing_unpaired",
        actor,
        {
            "pairing_id": pairing.id,
            "mechanism": pairing.mechanism,
            "request_id": pairing.request_id,
            "account_id": pairing.account_id,
            "environment": pairing.environment,
        },
    )
    events.pairing_changed(UNPAIRED, {**event_data(pairing), "unpairedReason": ENDED})
    db.session.commit()
    db.session.refresh(pairing)
    return pairing
