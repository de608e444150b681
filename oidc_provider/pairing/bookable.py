"""Where a booking for an account may go: the environments in which the account has an active
COMPLETED pairing, by OpenID Connect or by Custom pairing.

A booking is sent only for an account paired with ServiceTitan in the environment it goes
to, with a profile of that account, while the account is eligible: ServiceTitan would
otherwise refuse it (AccountNotFound, ProfileNotFound) after it had already left.
"""

from __future__ import annotations

from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Account, Client, CustomPairing, Pairing, Profile
from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.servicetitan.environments import default_environment
from oidc_provider.servicetitan.statuses import COMPLETED


def paired_environments(account_id: str) -> set[str]:
    """The environments in which ``account_id`` has a COMPLETED pairing."""
    openid = db.session.execute(
        select(Client.servicetitan_environment)
        .join(Pairing, Pairing.client_pk == Client.id)
        .where(Pairing.account_id == account_id, Pairing.status == COMPLETED)
        .distinct()
    ).scalars()
    custom = db.session.scalars(
        select(CustomPairing.environment)
        .where(CustomPairing.account_id == account_id, CustomPairing.status == COMPLETED)
        .distinct()
    )
    return {environment or default_environment() for environment in openid} | set(custom)


def route_booking(account_id: str, profile_id: str, environment: str | None = None) -> str:
    """The environment a booking for this account and profile goes to; ``ProblemError``
    when it may go nowhere. ``environment`` chooses among several pairings."""
    account = db.session.get(Account, account_id)
    if account is None:
        raise ProblemError([Problem("slot.accountId", f"{account_id!r} is not an account in the directory")])
    problems = []
    if not account.eligible:
        problems.append(Problem("slot.accountId", f"{account_id!r} is not eligible for bookings"))
    profile_account = db.session.scalar(select(Profile.account_id).where(Profile.id == profile_id))
    if profile_account != account_id:
        problems.append(Problem("slot.profileId", f"{profile_id!r} is not a profile of account {account_id!r}"))
    environments = paired_environments(account_id)
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
