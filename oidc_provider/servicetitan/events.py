"""The partner's events: one durable, ordered feed (``GET /api/v1/events``) and its push.

``record`` writes an event in the caller's transaction, so that it exists exactly when what
it tells of does, and queues its push through the outbox when WEBHOOK_FORWARD_URL is set
(``forwarding``). Each event is ``{"id", "type", "occurredAt", "data"}``, the same object in
the feed, the push and ``flask events list --json``; ``data`` is camelCase.

**Resuming.** A consumer that asks for the events after the last id it saw gets every later
event once, in id order. On SQLite, writers take turns, so ids commit in order. On
PostgreSQL, ids come from a sequence when the row is written and two transactions may
commit in the other order: event 6 can be visible while event 5 is not yet. ``page`` never
serves an event beyond a gap in the ids after the consumer's last id until the gap is
filled, or until the event after the gap is ``SETTLE`` seconds old: a gap that old is an id
that will never commit (a rolled back transaction, a sequence that skipped values after a
crash). Every writer of events commits within moments, well inside ``SETTLE``. A consumer's
first read (no last id yet) starts at the oldest event kept: older ones were purged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import DateTime, Row, Table, Text, bindparam, insert, select, type_coerce
from sqlalchemy import cast as sql_cast

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Event
from oidc_provider.servicetitan import forwarding

BOOKING_DELIVERED = "booking.delivered"
BOOKING_FAILED = "booking.failed"
BOOKING_OUTCOME_UNKNOWN = "booking.outcome_unknown"
LEAD_UPDATED = "lead.updated"
SERVICETITAN_UPDATE = "servicetitan.update"
WEBHOOK_FLAGGED = "webhook.flagged"
#: ``pairing.`` and the status in lower case: processing, completed, declined, unpaired.
PAIRING_PREFIX = "pairing."
TYPES = (
    BOOKING_DELIVERED,
    BOOKING_FAILED,
    BOOKING_OUTCOME_UNKNOWN,
    LEAD_UPDATED,
    *(f"{PAIRING_PREFIX}{status}" for status in ("processing", "completed", "declined", "unpaired")),
    SERVICETITAN_UPDATE,
    WEBHOOK_FLAGGED,
)

#: Events per page of the feed, by default and at most.
LIMIT_DEFAULT, LIMIT_MAX = 100, 1000
#: Seconds after which a gap in the ids is taken as an id that will never commit.
SETTLE = 10

_EVENTS = cast(Table, Event.__table__)
# A plain INSERT: events are written on hot paths (webhooks, outbox outcomes) and never read
# back by their writer.
_INSERT = insert(_EVENTS).returning(_EVENTS.c.id)
# ``data`` as its stored JSON text, which the feed writes out as it is, and the time as the
# naive UTC the column holds: the feed's hot path converts neither (docs/performance.md).
_PAGE = (
    select(
        _EVENTS.c.id,
        _EVENTS.c.type,
        type_coerce(_EVENTS.c.occurred_at, DateTime()).label("occurred_at"),
        sql_cast(_EVENTS.c.data, Text).label("data"),
    )
    .where(_EVENTS.c.id > bindparam("after"))
    .order_by(_EVENTS.c.id)
    .limit(bindparam("limit"))
)


def as_dict(event_id: int, type: str, occurred_at: datetime, data: dict) -> dict[str, Any]:
    """An event as the feed, the push and the CLI show it. The id is a string, as Standard
    Webhooks' ``webhook-id`` is; it holds the decimal feed position."""
    return {"id": str(event_id), "type": type, "occurredAt": occurred_at.isoformat(), "data": data}


def record(type: str, data: dict) -> dict[str, Any]:
    """Write an event in the caller's transaction (its commit makes it real, with its push
    queued), and answer it as the feed will show it."""
    occurred_at = clock.now()
    # Objects the caller has added stay pending until the caller flushes: a constraint they
    # break must fail where the caller expects it, not here.
    with db.session.no_autoflush:
        event_id = db.session.execute(_INSERT, {"type": type, "occurred_at": occurred_at, "data": data}).scalar_one()
    return written(event_id, type, occurred_at, data)


def written(event_id: int, type: str, occurred_at: datetime, data: dict) -> dict[str, Any]:
    """An event the caller wrote with a statement of its own (webhooks.py writes a lead
    update's with the update), with its push queued as ``record`` queues it."""
    event = as_dict(event_id, type, occurred_at, data)
    forwarding.enqueue(event)
    return event


def pairing_event(status: str, data: dict) -> tuple[str, dict]:
    """The type and data of ``pairing.processing``, ``.completed``, ``.declined`` or
    ``.unpaired`` for a status just written (ServiceTitan's PROCESSING, COMPLETED, DECLINED,
    or the local UNPAIRED)."""
    return PAIRING_PREFIX + status.lower(), {**data, "status": status}


def pairing_changed(status: str, data: dict) -> dict[str, Any]:
    """Record the ``pairing_event`` of a status just written."""
    return record(*pairing_event(status, data))


def page(after: int | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``limit`` events after the id ``after`` (from the oldest kept when None), in id
    order, and the cursor of the next page: the last id when the page is full, else None
    (the consumer has caught up, and polls again with its last id). Stops at a gap after
    ``after`` that has not settled (see above)."""
    rows = _settled(after, limit)
    items = [as_dict(row.id, row.type, row.occurred_at.replace(tzinfo=UTC), json.loads(row.data)) for row in rows]
    return items, _next(rows, limit)


def page_json(after: int | None, limit: int) -> str:
    """``{"items": [...], "next": ...}`` of ``page`` as JSON text, written around each
    event's stored ``data`` text rather than parsing and encoding it again: the feed's hot
    path (docs/performance.md)."""
    rows = _settled(after, limit)
    items = ",".join(
        f'{{"id":"{row.id}","type":{json.dumps(row.type)},"occurredAt":"{row.occurred_at.isoformat()}+00:00",'
        f'"data":{row.data}}}'
        for row in rows
    )
    return f'{{"items":[{items}],"next":{json.dumps(_next(rows, limit))}}}'


def _settled(after: int | None, limit: int) -> list[Row]:
    rows = list(db.session.execute(_PAGE, {"after": after or 0, "limit": limit}))
    settled_before = (clock.now() - timedelta(seconds=SETTLE)).replace(tzinfo=None)
    expected = None if after is None else after + 1
    for index, row in enumerate(rows):
        if expected is not None and row.id != expected and row.occurred_at > settled_before:
            return rows[:index]
        expected = row.id + 1
    return rows


def _next(rows: list[Row], limit: int) -> str | None:
    return str(rows[-1].id) if len(rows) == limit else None
