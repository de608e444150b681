"""Every pairing, OpenID Connect and Custom, as one list with one representation: the
partner API's ``/api/v1/pairings``, ``flask pairings list --json`` and the console read it
here, in ServiceTitan's vocabulary and casing (``requestId``, ``accountId``).

ServiceTitan's refusal of a first attempt to report a pairing (DuplicateAccount,
DuplicateRequestId, DuplicateProfile) travels with the pairing, with what to do about it: the outbox has
already read such an answer to a retry after an unknown outcome as delivery, so a refusal
that stayed is a real one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Account, OutboxMessage, Pairing
from oidc_provider.servicetitan import outbox

#: What to do about ServiceTitan's refusals of a pairing, by error name.
ADVICE = {
    "DuplicateAccount": (
        "ServiceTitan already has this account paired, with another ServiceTitan tenant or an earlier "
        "pairing. Unpair it in ServiceTitan (or ask ServiceTitan support to), then pair again from ServiceTitan."
    ),
    "DuplicateRequestId": (
        "ServiceTitan already created an account for this request. Start a new pairing from ServiceTitan: "
        "a new request id is needed."
    ),
    "DuplicateProfile": (
        "ServiceTitan already has one of this account's profiles under another account. Give the profile "
        "its own id in the directory, or unpair the other account in ServiceTitan, then pair again from ServiceTitan."
    ),
}


#: The largest id an INTEGER column holds: a larger one names no pairing.
ID_MAX = 2**31 - 1


def find(pairing_id: int) -> Pairing | None:
    """The pairing with this id; None for none, an id out of the column's range included."""
    return db.session.get(Pairing, pairing_id) if 1 <= pairing_id <= ID_MAX else None


def query(
    status: str | None = None,
    account_id: str | None = None,
    environment: str | None = None,
    mechanism: str | None = None,
) -> Select:
    """Newest first, each with its account's profiles and its tenant user loaded."""
    statement = (
        select(Pairing)
        .options(
            selectinload(Pairing.account).selectinload(Account.profiles),
            selectinload(Pairing.user),
            selectinload(Pairing.client),
        )
        .order_by(Pairing.id.desc())
    )
    if status:
        statement = statement.where(Pairing.status == status)
    if account_id:
        statement = statement.where(Pairing.account_id == account_id)
    if environment:
        statement = statement.where(Pairing.environment == environment)
    if mechanism:
        statement = statement.where(Pairing.mechanism == mechanism)
    return statement


def page(statement: Select, limit: int, before_id: int | None = None) -> tuple[list[Pairing], int | None]:
    """A page of ``statement`` and the id to continue before (``None`` on the last page): a
    cursor of ids stays correct while pairings are added."""
    if before_id is not None:
        statement = statement.where(Pairing.id < before_id)
    rows = list(db.session.scalars(statement.limit(limit + 1)))
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


def servicetitan_refusals(pairings: list[Pairing]) -> dict[int, dict[str, Any]]:
    """ServiceTitan's standing refusal of each pairing's status report, by pairing id, with
    ``advice`` for the refusals that have one; in one query."""
    keys = {
        outbox.pairing_ordering_key(p.environment, p.request_id): p.id for p in pairings if p.request_id is not None
    }
    if not keys:
        return {}
    refusals: dict[int, dict[str, Any]] = {}
    failed = db.session.execute(
        select(OutboxMessage.ordering_key, OutboxMessage.last_error)
        .where(OutboxMessage.ordering_key.in_(keys), OutboxMessage.state == outbox.FAILED)
        .order_by(OutboxMessage.id)
    )
    for ordering_key, error in failed:
        error = dict(error or {})
        if advice := ADVICE.get(error.get("name", "")):
            error["advice"] = advice
        refusals.setdefault(keys[ordering_key], error)
    return refusals


def describe(pairing: Pairing, refusal: dict[str, Any] | None = None) -> dict[str, Any]:
    """The pairing as the API and the CLI show it; ``refusal`` from ``servicetitan_refusals``."""
    account = pairing.account
    return {
        "id": pairing.id,
        "mechanism": pairing.mechanism,
        "status": pairing.status,
        "requestId": pairing.request_id,
        "environment": pairing.environment,
        "account": None
        if account is None
        else {
            "id": account.id,
            "name": account.name,
            "profiles": [{"id": profile.id, "name": profile.name} for profile in account.profiles],
        },
        "sub": pairing.user.subject,
        "createdAt": pairing.created_at.isoformat(),
        "updatedAt": pairing.updated_at.isoformat(),
        "decidedAt": pairing.decided_at.isoformat() if pairing.decided_at else None,
        "decidedBy": pairing.decided_by,
        "unpairedReason": pairing.unpaired_reason,
        "unpairedBy": pairing.unpaired_by,
        "servicetitanError": refusal,
    }


def describe_all(pairings: list[Pairing]) -> list[dict[str, Any]]:
    refusals = servicetitan_refusals(pairings)
    return [describe(pairing, refusals.get(pairing.id)) for pairing in pairings]
