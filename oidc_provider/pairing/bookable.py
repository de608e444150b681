"""Where a booking for an account may go: the environments in which the account has an active
COMPLETED pairing, by OpenID Connect or by Custom pairing.

A booking is sent only for an account paired with ServiceTitan in the environment it goes
to, with a profile of that account, while the account is eligible: ServiceTitan would
otherwise refuse it (AccountNotFound, ProfileNotFound) after it had already left.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, func, select, true, union

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Account, Client, CustomPairing, Pairing, Profile
from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.servicetitan.environments import default_environment
from oidc_provider.servicetitan.statuses import COMPLETED

_accounts, _profiles = (cast(Table, model.__table__) for model in (Account, Profile))
_clients, _pairings, _custom = (cast(Table, model.__table__) for model in (Client, Pairing, CustomPairing))
# The environments of an account's COMPLETED pairings, both mechanisms; an OpenID Connect
# pairing's client without an environment is in the default one (a parameter: a setting).
_PAIRED = union(
    select(func.coalesce(_clients.c.servicetitan_environment, bindparam("default_environment")).label("environment"))
    .join(_pairings, _pairings.c.client_pk == _clients.c.id)
    .where(_pairings.c.account_id == bindparam("account_id"), _pairings.c.status == COMPLETED),
    select(_custom.c.environment).where(_custom.c.account_id == bindparam("account_id"), _custom.c.status == COMPLETED),
).subquery()
# What routing a booking needs, in one statement: no row when the account does not exist,
# else one per paired environment (one with none when it has no pairing).
_ROUTE = (
    select(
        _accounts.c.eligible,
        select(_profiles.c.account_id).where(_profiles.c.id == bindparam("profile_id")).scalar_subquery(),
        _PAIRED.c.environment,
    )
    .select_from(_accounts.outerjoin(_PAIRED, true()))
    .where(_accounts.c.id == bindparam("account_id"))
)


def route_booking(account_id: str, profile_id: str, environment: str | None = None) -> str:
    """The environment a booking for this account and profile goes to; ``ProblemError``
    when it may go nowhere. ``environment`` chooses among several pairings."""
    rows = (
        db.session.connection()
        .execute(
            _ROUTE,
            {"account_id": account_id, "profile_id": profile_id, "default_environment": default_environment()},
        )
        .all()
    )
    if not rows:
        raise ProblemError([Problem("slot.accountId", f"{account_id!r} is not an account in the directory")])
    eligible, profile_account, _ = rows[0]
    environments = {row.environment for row in rows if row.environment is not None}
    problems = []
    if not eligible:
        problems.append(Problem("slot.accountId", f"{account_id!r} is not eligible for bookings"))
    if profile_account != account_id:
        problems.append(Problem("slot.profileId", f"{profile_id!r} is not a profile of account {account_id!r}"))
    if environment is not None and environment not in environments:
        problems.append(
            Problem("slot.accountId", f"{account_id!r} has no COMPLETED pairing with ServiceTitan's {environment}")
        )
    elif not environments:
        problems.append(Problem("slot.accountId", f"{account_id!r} has no COMPLETED pairing with ServiceTitan"))
    elif environment is None and len(environments) > 1:
        problems.append(
            Problem("environment", f"{account_id!r} is paired in {' and '.join(sorted(environments))}: choose one")
        )
    if problems:
        raise ProblemError(problems)
    return environment or next(iter(environments))
