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

import json
from typing import Any, cast

from sqlalchemy import JSON, Boolean, Table, bindparam, insert, select, text, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from oidc_provider.core import clock
from oidc_provider.core.audit import event_row, record_event, run_audited
from oidc_provider.core.extensions import db
from oidc_provider.core.models import OPENID, AccessToken, Account, Client, Pairing, TenantUser, UTCDateTime
from oidc_provider.directory import account_directory
from oidc_provider.servicetitan import events
from oidc_provider.servicetitan.environments import default_environment
from oidc_provider.servicetitan.outbox import enqueue_account_status
from oidc_provider.servicetitan.statuses import COMPLETED, DECLINED, PROCESSING, UNPAIRED

#: Why a pairing is UNPAIRED (``Pairing.unpaired_reason``).
SUPERSEDED, ENDED = "superseded", "unpaired"

_pairings = cast(Table, Pairing.__table__)
_INSERT_TOKEN = insert(cast(Table, AccessToken.__table__)).returning(AccessToken.__table__.c.id)
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
        record_event("pairing_superseded", actor, _superseded_detail([row.id for row in ended], pairing))
    for row in ended:
        events.pairing_changed(UNPAIRED, _superseded_data(row.id, row.mechanism, row.request_id, pairing))


def _superseded_detail(pairing_ids: Any, by: Pairing) -> dict:
    return {"pairing_ids": pairing_ids, "by_pairing_id": by.id, "account_id": by.account_id}


def _superseded_data(pairing_id: Any, mechanism: Any, request_id: Any, by: Pairing) -> dict:
    earlier = Pairing(
        id=pairing_id, mechanism=mechanism, request_id=request_id, account_id=by.account_id, environment=by.environment
    )
    return {**event_data(earlier), "unpairedReason": SUPERSEDED}


def record_pairing(client: Client, user: TenantUser, account: Account, token: dict[str, Any]) -> Pairing:
    """Write the access token a code exchange issued (``token``, its column values) and the
    pairing it creates, in the token endpoint's transaction. Answers the pairing detached,
    with its account, for the id_token's accountInfo claim."""
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
        "status": initial_status(client, account),
        "created_at": now,
        "updated_at": now,
    }
    created = {"client_id": client.client_id, "account_id": account.id, "status": values["status"]}
    if db.engine.dialect.name == "postgresql":
        return _record_in_one_statement(token, values, account, user.email, created)
    values["access_token_id"] = db.session.execute(_INSERT_TOKEN, token).scalar_one()
    pairing_id = db.session.execute(_INSERT_PAIRING, values).scalar_one()
    pairing = Pairing(id=pairing_id, account=account, **values)
    if pairing.status == COMPLETED:
        supersede_earlier(pairing, user.email)
    record_event("pairing_created", user.email, created)
    events.pairing_changed(pairing.status, event_data(pairing))
    return pairing


# ``record_pairing``'s writes on PostgreSQL, in the order the statements above make them:
# the token, the pairing, the earlier pairing superseded with its audit event and feed
# event, the new pairing's audit event and feed event. Each later insert waits for the one
# before (``count(*) >= 0``), so that ids rise in that order. The JSON of the audit detail
# and the feed data is written by Python, cut where a value only the statement knows goes
# (``_json_cut``), so that it is stored as the other paths store it, byte for byte; only a
# superseded pairing's request id goes through PostgreSQL's to_json, which keeps non-ASCII
# characters as they are where Python escapes them (the same JSON value).
_RECORD_PAIRING = (
    text(
        """
WITH token AS (
    INSERT INTO access_tokens
        (token_hash, client_pk, user_id, account_id, authorization_code_id, scope, issued_at, expires_at)
    VALUES (:token_hash, :client_pk, :user_id, :account_id, :authorization_code_id, :scope, :issued_at, :expires_at)
    RETURNING id
), pairing AS (
    INSERT INTO pairings
        (mechanism, environment, client_pk, user_id, account_id, access_token_id, status, created_at, updated_at)
    SELECT :mechanism, :environment, :client_pk, :user_id, :account_id, token.id, :status, :now, :now FROM token
    RETURNING id, access_token_id
), superseded AS (
    UPDATE pairings SET status = :unpaired, unpaired_reason = :superseded, updated_at = :now
    WHERE :supersedes AND account_id = :account_id AND environment = :environment AND status = :completed
    RETURNING id, mechanism, request_id
), superseded_audit AS (
    INSERT INTO audit_events (at, kind, actor, detail)
    SELECT :now, 'pairing_superseded', :actor, CAST(
        CAST(:superseded_detail_0 AS text) || '[' || string_agg(CAST(id AS text), ', ' ORDER BY id) || ']'
        || CAST(:superseded_detail_1 AS text) || (SELECT id FROM pairing) || CAST(:superseded_detail_2 AS text)
    AS json)
    FROM superseded HAVING count(*) > 0
    RETURNING id
), superseded_events AS (
    INSERT INTO events (type, occurred_at, data)
    SELECT :superseded_type, :now, CAST(
        CAST(:superseded_data_0 AS text) || id || CAST(:superseded_data_1 AS text) || CAST(to_json(mechanism) AS text)
        || CAST(:superseded_data_2 AS text) || coalesce(CAST(to_json(request_id) AS text), 'null')
        || CAST(:superseded_data_3 AS text)
    AS json)
    FROM (SELECT * FROM superseded ORDER BY id) AS earlier
    RETURNING id, data
), created_audit AS (
    INSERT INTO audit_events (at, kind, actor, detail)
    SELECT :now, 'pairing_created', :actor, CAST(:created_detail AS json)
    WHERE (SELECT count(*) FROM superseded_audit) >= 0
    RETURNING id
), created_event AS (
    INSERT INTO events (type, occurred_at, data)
    SELECT :created_type, :now, CAST(CAST(:created_data_0 AS text) || id || CAST(:created_data_1 AS text) AS json)
    FROM pairing WHERE (SELECT count(*) FROM superseded_events) >= 0
    RETURNING id
)
SELECT pairing.id AS pairing_id, pairing.access_token_id, created_event.id AS event_id,
    (SELECT json_agg(json_build_array(id, data) ORDER BY id) FROM superseded_events) AS superseded_events
FROM pairing, created_event, (SELECT count(*) FROM created_audit) AS audited
"""
    )
    .bindparams(
        bindparam("now", type_=UTCDateTime),
        bindparam("issued_at", type_=UTCDateTime),
        bindparam("expires_at", type_=UTCDateTime),
        bindparam("supersedes", type_=Boolean),
        bindparam("created_detail", type_=JSON),
    )
    .columns(superseded_events=JSON)
)
# json.dumps writes it "\u0000"; no value of ours holds one.
_SLOT = "\x00"


def _json_cut(data: dict) -> list[str]:
    """``data`` as the JSON columns store it (``json.dumps``), cut at each value ``_SLOT``."""
    return json.dumps(data).split(json.dumps(_SLOT))


def _record_in_one_statement(
    token: dict[str, Any], values: dict[str, Any], account: Account, actor: str, created: dict
) -> Pairing:
    """``record_pairing``'s writes as ``_RECORD_PAIRING``, and the pushes of its events."""
    now, status = values["created_at"], values["status"]
    # The pairing as the statement will write it, with _SLOT for what only the statement knows.
    pairing = Pairing(id=_SLOT, request_id=None, **values)
    superseded_type, superseded_data = events.pairing_event(UNPAIRED, _superseded_data(_SLOT, _SLOT, _SLOT, pairing))
    created_type, created_data = events.pairing_event(status, event_data(pairing))
    parameters = {
        **token,
        **values,
        "now": now,
        "supersedes": status == COMPLETED,
        "completed": COMPLETED,
        "unpaired": UNPAIRED,
        "superseded": SUPERSEDED,
        "actor": actor,
        "created_detail": event_row("pairing_created", actor, created)["detail"],
        "superseded_type": superseded_type,
        "created_type": created_type,
    }
    for name, cut in (
        (
            "superseded_detail",
            _json_cut(event_row("pairing_superseded", actor, _superseded_detail(_SLOT, pairing))["detail"]),
        ),
        ("superseded_data", _json_cut(superseded_data)),
        ("created_data", _json_cut(created_data)),
    ):
        parameters.update({f"{name}_{index}": piece for index, piece in enumerate(cut)})
    row = db.session.execute(_RECORD_PAIRING, parameters).one()
    for event_id, data in row.superseded_events or ():
        events.written(event_id, superseded_type, now, data)
    events.written(row.event_id, created_type, now, {**created_data, "pairingId": row.pairing_id})
    return Pairing(id=row.pairing_id, account=account, access_token_id=row.access_token_id, **values)


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
    parameters = {"pairing_id": pairing.id, "request_id": request_id, "now": clock.now()}
    detail = {"pairing_id": pairing.id, "request_id": request_id, "account_id": pairing.account_id}
    try:
        bound = run_audited(
            _BIND_REQUEST_ID, parameters, "pairing_request_id_bound", tenant_email, {**detail, "status": pairing.status}
        )
    except IntegrityError:
        db.session.rollback()
        raise PairingConflict("This request_id is already bound to another access token.") from None
    if not bound and db.session.scalar(_SELECT_REQUEST_ID, {"pairing_id": pairing.id}) != request_id:
        # Another call bound this token a moment ago: with this request id, the same answer.
        raise PairingConflict("This access token is already bound to another request_id.")
    pairing.request_id = request_id


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
