"""Deleting what can no longer be used: expired codes, old tokens, expired consents, and
events past their retention.

Tenant sessions are not here: they are signed cookies held by the browsers, ending with
``TENANT_SESSION_LIFETIME``, so the server has nothing of theirs to delete.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import cast

from flask import current_app
from sqlalchemy import Delete, delete, or_
from sqlalchemy.engine import CursorResult

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import AccessToken, AuthorizationCode, Consent, Event


@dataclass
class PurgeReport:
    authorization_codes: int
    access_tokens: int
    consents: int
    events: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def purge() -> PurgeReport:
    """Delete, in one transaction:

    - authorization codes past their expiry: an expired code is refused whatever its
      state, so keeping it detects nothing;
    - access tokens expired or revoked more than ``PURGE_RETENTION`` seconds ago (the
      pairings they created stay, without the link);
    - remembered consents past their expiry;
    - events of the partner's feed older than ``EVENT_RETENTION`` seconds.
    """
    now = clock.now()
    horizon = now - timedelta(seconds=current_app.config["PURGE_RETENTION"])
    codes = _deleted(delete(AuthorizationCode).where(AuthorizationCode.expires_at <= now))
    tokens = _deleted(
        delete(AccessToken).where(or_(AccessToken.expires_at <= horizon, AccessToken.revoked_at <= horizon))
    )
    consents = _deleted(delete(Consent).where(Consent.expires_at <= now))
    events = _deleted(
        delete(Event).where(Event.occurred_at <= now - timedelta(seconds=current_app.config["EVENT_RETENTION"]))
    )
    db.session.commit()
    return PurgeReport(codes, tokens, consents, events)


def _deleted(statement: Delete) -> int:
    return cast(CursorResult, db.session.execute(statement)).rowcount
