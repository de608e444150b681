"""Where a booking for an account may go: the environments in which the account has an active
COMPLETED pairing, by OpenID Connect or by Custom pairing (one pairing record for both).

A booking is sent only for an account paired with ServiceTitan in the environment it goes
to, with a profile of that account, while the account is eligible: ServiceTitan would
otherwise refuse it (AccountNotFound, ProfileNotFound) after it had already left. An
UNPAIRED pairing (ended here, or superseded) books nothing.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, and_, bindparam, select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Account, Pairing, Profile
from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.servicetitan.statuses import COMPLETED

_accounts, _profiles, _pairings = (cast(Table, model.__table__) for model in (Account, Profile, Pairing))
# Everything a booking's routing needs, in one statement on the booking path: one row per
# COMPLETED pairing of the account (one row with no environment when there is none), each
# saying whether the account is eligible and whether the profile is the account's.
_ROUTING = (
    select(_accounts.c.eligible, _profiles.c.id.label("profile_id"), _pairings.c.environment)
    .select_from(_accounts)
    .outerjoin(_profiles, and_(_profiles.c.account_id == _accounts.c.id, _profiles.c.id == bindparam("profile_id")))
    .outerjoin(_pairings, and_(_pairings.c.account_id == _accounts.c.id, _pairings.c.status == COMPLETED))
    .where(_accounts.c.id == bindparam("account_id"))
)


def route_booking(account_id: str, profile_id: str, environment: str | None = None) -> str:
    """The environment a booking for this account and profile goes to: that of the account's
    active COMPLETED pairing; ``ProblemError`` when it may go nowhere. ``environment``
    chooses among pairings in both environments, and must be one of them."""
    # On the session's connection: the booking path skips the session's per-statement work.
    rows = db.session.connection().execute(_ROUTING, {"account_id": account_id, "profile_id": profile_id}).all()
    if not rows:
        raise ProblemError([Problem("slot.accountId", f"{account_id!r} is not an account in the directory")])
    eligible, profile, _ = rows[0]
    environments = {row.environment for row in rows if row.environment is not None}
    problems = []
    if not eligible:
        problems.append(Problem("slot.accountId", f"{account_id!r} is not eligible for bookings"))
    if profile is None:
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
