"""The audit log: admin actions, pairings and security events, in one table."""

from __future__ import annotations

from functools import cache
from typing import cast

from flask import has_request_context, request
from sqlalchemy import Insert, Table, Update, insert, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent, column_parameters

# A plain INSERT rather than an object for the unit of work: events are written on the hot
# paths (every code exchange, every account-info call) and never read back by their writer.
_INSERT_EVENT = insert(cast(Table, AuditEvent.__table__))


def record_event(kind: str, actor: str = "", detail: dict | None = None) -> None:
    """Write an event in the caller's transaction, which commits it (or rolls it back with
    the rest). Never put a secret, a token or a password in ``detail``."""
    # On the session's connection, which never flushes: objects the caller has added stay
    # pending until the caller flushes, so a constraint they break fails where the caller
    # expects it, not here. (It also spares the session's per-statement work.)
    db.session.connection().execute(_INSERT_EVENT, event_row(kind, actor, detail))


def event_row(kind: str, actor: str = "", detail: dict | None = None) -> dict:
    """The audit table's values for an event."""
    detail = dict(detail or {})
    if has_request_context():
        detail.setdefault("remote_addr", request.remote_addr)
    return dict(zip(EVENT_COLUMNS, (clock.now(), kind, actor, detail), strict=True))


EVENT_COLUMNS = ("at", "kind", "actor", "detail")
#: An event's values as parameters (``event_at``, ``event_kind``, ...), for a statement that
#: writes the event beside other rows; ``event_parameters`` gives their values.
EVENT_PARAMETERS = column_parameters(cast(Table, AuditEvent.__table__), EVENT_COLUMNS, "event_")


def event_parameters(kind: str, actor: str = "", detail: dict | None = None) -> dict:
    """The values of ``EVENT_PARAMETERS`` for an event."""
    return {f"event_{column}": value for column, value in event_row(kind, actor, detail).items()}


def run_audited(statement: Update, parameters: dict, kind: str, actor: str, detail: dict) -> int:
    """Run ``statement`` (a prebuilt UPDATE of one row) and, when it changed the row, record
    the event, in the caller's transaction: one round trip on PostgreSQL, two elsewhere.
    Answers the number of rows changed."""
    if db.engine.dialect.name != "postgresql":
        changed = cast(CursorResult, db.session.execute(statement, parameters)).rowcount
        if changed:
            record_event(kind, actor, detail)
        return changed
    event = event_parameters(kind, actor, detail)
    return len(db.session.execute(_audited(statement), parameters | event).all())


@cache
def _audited(statement: Update) -> Insert:
    """``statement`` with an event for each row it changes, as one statement for PostgreSQL
    (a data-modifying CTE); the event's count is the column's default, 1."""
    changed = statement.returning(literal_column("1")).cte("changed")
    event = select(*EVENT_PARAMETERS.values()).select_from(changed)
    combined = _INSERT_EVENT.from_select(EVENT_COLUMNS, event, include_defaults=False)
    return combined.add_cte(changed).returning(literal_column("1"))


def record_repeated_event(kind: str, source: str, detail: dict, interval: int) -> None:
    """Count an event that may repeat without limit (a flood of refused requests) on one
    row per ``kind`` and ``source`` for each ``interval`` seconds: the first occurrence
    writes the row with its ``detail``, the next ones add to its ``count``. Written in the
    caller's transaction, like ``record_event``; concurrent writers add to the same row."""
    now = clock.now()
    started = int(now.timestamp()) // interval * interval
    detail = dict(detail)
    if has_request_context():
        detail.setdefault("remote_addr", request.remote_addr)
    table = cast(Table, AuditEvent.__table__)
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .values(at=now, kind=kind, actor="", detail=detail, count=1, repeat_key=f"{kind} {source} {started}"[:255])
        .on_conflict_do_update(index_elements=["repeat_key"], set_={"count": table.c.count + 1})
    )
    with db.session.no_autoflush:
        db.session.execute(statement)
