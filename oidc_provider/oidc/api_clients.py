"""Partner API clients: the partner's own systems, calling ``/api/v1`` with OAuth 2.0 client
credentials. Creating one, rotating or revoking its secret, and what the CLI shows of it.

Separate from relying-party clients (``client_registry``): an API client has scopes of the
partner API, no redirect URI, and only the client credentials grant.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from oidc_provider.core import clock
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import token_digest
from oidc_provider.core.models import ApiAccessToken, ApiClient
from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.oidc.client_registry import GRACE_PERIOD_MAX, NAME_MAX, new_client_id, new_secret

#: The scopes of the partner API, each what it lets a client do.
API_SCOPES = {
    "bookings:write": "post bookings",
    "bookings:read": "read bookings and their outcomes, without personal data",
    "bookings:personal": "read a booking's userInformation too",
    "pairings:read": "list pairings",
    "pairings:write": "end a pairing",
    "leads:read": "read the leads report and availability",
    "events:read": "read the events feed",
}


def scope_problems(scope: str) -> list[Problem]:
    scopes = scope.split()
    if not scopes:
        return [Problem("scope", f"give at least one scope: {' '.join(API_SCOPES)}")]
    return [
        Problem("scope", f"unknown scope {unknown!r}; choose from {' '.join(API_SCOPES)}")
        for unknown in dict.fromkeys(scopes)
        if unknown not in API_SCOPES
    ]


def create_api_client(name: str, scope: str, actor: str = "cli") -> tuple[ApiClient, str]:
    """The new client and its secret: the only time the secret is ever shown."""
    problems = scope_problems(scope)
    if not name.strip() or len(name) > NAME_MAX:
        problems.insert(0, Problem("name", f"give a name of 1 to {NAME_MAX} characters"))
    if problems:
        raise ProblemError(problems)
    secret = new_secret()
    client = ApiClient(
        client_id=new_client_id(),
        name=name.strip(),
        scope=" ".join(dict.fromkeys(scope.split())),
        secret_hash=token_digest(secret),
        created_at=clock.now(),
    )
    db.session.add(client)
    record_event("api_client_created", actor, {"client_id": client.client_id, "name": client.name})
    db.session.commit()
    return client, secret


def check_rotation(client: ApiClient, grace_seconds: int) -> None:
    """Refuses a rotation before it is asked for: the console checks before its confirmation."""
    if client.revoked_at is not None:
        raise ProblemError([Problem("", f"API client {client.client_id!r} is revoked; create a new one")])
    if not 0 <= grace_seconds <= GRACE_PERIOD_MAX:
        raise ProblemError([Problem("grace_period", f"must be 0 to {GRACE_PERIOD_MAX} seconds (30 days)")])


def rotate_api_client_secret(client: ApiClient, grace_seconds: int = 0, actor: str = "cli") -> str:
    """A new secret; the old one keeps working for ``grace_seconds``, so that the partner's
    systems can switch over without a failed call."""
    check_rotation(client, grace_seconds)
    if grace_seconds:
        client.previous_secret_hash = client.secret_hash
        client.previous_secret_expires_at = clock.now() + timedelta(seconds=grace_seconds)
    else:
        client.previous_secret_hash = client.previous_secret_expires_at = None
    secret = new_secret()
    client.secret_hash = token_digest(secret)
    record_event("api_client_secret_rotated", actor, {"client_id": client.client_id, "grace_seconds": grace_seconds})
    db.session.commit()
    return secret


def revoke_api_client(client: ApiClient, actor: str = "cli") -> None:
    """The client authenticates no more, and every token it holds stops working."""
    if client.revoked_at is None:
        client.revoked_at = clock.now()
        record_event("api_client_revoked", actor, {"client_id": client.client_id, "name": client.name})
        db.session.commit()


def find_api_client(client_id: str) -> ApiClient | None:
    return db.session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))


def list_api_clients() -> list[ApiClient]:
    return list(db.session.scalars(select(ApiClient).order_by(ApiClient.id)))


def last_tokens_issued() -> dict[int, datetime]:
    """When each client (by primary key) last got a token: the last time its secret was used."""
    query = select(ApiAccessToken.api_client_pk, func.max(ApiAccessToken.issued_at)).group_by(
        ApiAccessToken.api_client_pk
    )
    return {pk: issued_at for pk, issued_at in db.session.execute(query)}


def describe(client: ApiClient) -> dict:
    """What the CLI's --json shows of a client: never its secret."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "scope": client.scope,
        "created_at": client.created_at.isoformat(),
        "revoked_at": client.revoked_at.isoformat() if client.revoked_at else None,
        "previous_secret_expires_at": (
            client.previous_secret_expires_at.isoformat() if client.previous_secret_expires_at else None
        ),
    }
