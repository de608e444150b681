"""Webhooks from ServiceTitan: keep first, judge after.

ServiceTitan does not retry a failed delivery ("HTTP failures retry mechanism will be
supported in the later stages"), so an authenticated body is kept raw whatever it holds;
one that does not validate stays, flagged for an admin. The raw row and its judgment are
written in one transaction, committed before the answer: the body is judged first, the raw
row inserted with its state, then what the judgment records beside it. When judging fails,
that transaction is rolled back and the raw row alone commits, in state ``received``, and a
sweep (``judge_waiting``, every WEBHOOK_SWEEP_INTERVAL seconds in each web process) judges
it again. Lead status updates are validated against the document's examples, not its table
(which calls decimals, strings and lists "integer"), and recorded once per
``statusUpdateId``: the unique constraint decides between two copies arriving at once on
two workers.

Each ServiceTitan environment posts to its own URL (``receiver_path``); a delivery, and
what is recorded from it, carries that environment, and a lead update is linked only to a
booking sent to the same environment: a sandbox test lead never counts in production's
numbers.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import JSON, Row, Table, bindparam, func, insert, literal, select, true, update
from sqlalchemy.dialects import postgresql, sqlite

from oidc_provider.core import clock, json_limits
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.models import (
    AvailabilitySnapshot,
    Booking,
    Event,
    LeadStatusUpdate,
    WebhookDelivery,
    column_parameters,
)
from oidc_provider.core.problems import ProblemError
from oidc_provider.servicetitan import events
from oidc_provider.servicetitan.environments import PRODUCTION, default_environment

log = logging.getLogger(__name__)

#: ``{prefix}/leads/<event>`` and the status its body must carry.
LEAD_EVENTS = {
    "accepted": "Accepted",
    "declined": "Declined",
    "appointment_scheduled": "AppointmentScheduled",
    "invoiced": "Invoiced",
}
#: The undocumented pushes, kept as received.
PLAIN_TOPICS = ("accounts", "profiles", "services", "availabilities")
TOPICS = PLAIN_TOPICS + tuple(f"leads/{event}" for event in LEAD_EVENTS)


def receiver_path(prefix: str, environment: str, topic: str) -> str:
    """Where ``environment`` posts ``topic``: production directly under the prefix (as
    before environments existed), the sandbox under ``{prefix}/sandbox``."""
    prefix = prefix.rstrip("/")
    return f"{prefix}/{topic}" if environment == PRODUCTION else f"{prefix}/{environment}/{topic}"


_EVENT_FIELDS = {
    "Accepted": ("acceptedTimestamp",),
    "Declined": ("declineTimestamp",),
    "AppointmentScheduled": ("scheduledStartTimestamp",),
    "Invoiced": ("invoicedTimestamp",),
}
_ID_FIELDS = ("partnerBookingId", "accountId", "profileId", "statusUpdateId", "status")
_ID_MAX = 200
UNSTORABLE = "a value holds a NUL character or a lone surrogate"
#: The largest amount (a price, a total, a quantity) taken as real: far above any invoice,
#: far below where a sum stops being exact money.
AMOUNT_MAX = 10**12

# A delivery's states: "received" until judged.
RECEIVED, STORED, INVALID, NOT_JSON, DUPLICATE, UNKNOWN_BOOKING = (
    "received",
    "stored",
    "invalid",
    "not_json",
    "duplicate",
    "unknown_booking",
)
JUDGING_FAILED = "judging failed; the delivery is kept and will be judged again"
JUDGING_FAILED_TWICE = "judging failed twice; see the log"

_DELIVERIES = cast(Table, WebhookDelivery.__table__)
_INSERT_DELIVERY = insert(_DELIVERIES).returning(_DELIVERIES.c.id)
_RECORD_STATE = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("delivery"))
    .values(state=bindparam("state"), problems=bindparam("problems"))
)
_UPDATES = cast(Table, LeadStatusUpdate.__table__)
# A booking sent to the environment the update came from.
_BOOKING_IN_ENVIRONMENT = select(Booking.id).where(
    Booking.partner_booking_id == bindparam("booking_ref"), Booking.environment == bindparam("booking_environment")
)
# A new lead update, on SQLite (False) and PostgreSQL (True), with the booking it is about;
# nothing when its statusUpdateId is recorded already.
_INSERT_NEW_UPDATE = {
    on_postgresql: dialect.insert(_UPDATES)
    .values(booking_id=_BOOKING_IN_ENVIRONMENT.scalar_subquery())
    .on_conflict_do_nothing(index_elements=["status_update_id"])
    .returning(_UPDATES.c.booking_id)
    for on_postgresql, dialect in ((False, sqlite), (True, postgresql))
}
_UPDATE_FIELDS = (
    "status_update_id",
    "environment",
    "partner_booking_id",
    "account_id",
    "profile_id",
    "status",
    "event_timestamp",
    "event_data",
)
# On PostgreSQL, the raw row of a valid lead update, the update and its event in one
# statement: the update's foreign key to the row beside it is checked at the statement's
# end. The update's and the event's columns are empty when the statusUpdateId is recorded
# already.
_NEW_DELIVERY = (
    insert(_DELIVERIES)
    .values({name: bindparam(name) for name in ("topic", "environment", "received_at", "headers", "body", "state")})
    .values(problems=[])
    .returning(_DELIVERIES.c.id)
    .cte("delivery")
)
_NEW_UPDATE = (
    postgresql.insert(_UPDATES)
    .from_select(
        ["delivery_id", "booking_id", *_UPDATE_FIELDS],
        select(
            _NEW_DELIVERY.c.id,
            _BOOKING_IN_ENVIRONMENT.scalar_subquery(),
            *column_parameters(_UPDATES, _UPDATE_FIELDS).values(),
        ),
    )
    .on_conflict_do_nothing(index_elements=["status_update_id"])
    .returning(_UPDATES.c.id, _UPDATES.c.booking_id, _UPDATES.c.environment, _UPDATES.c.partner_booking_id)
    .cte("lead_update")
)
_EVENTS = cast(Table, Event.__table__)
_NEW_UPDATE_EVENT = (
    insert(_EVENTS)
    .from_select(
        ["type", "occurred_at", "data"],
        select(
            literal(events.LEAD_UPDATED),
            bindparam("occurred_at", type_=_EVENTS.c.occurred_at.type),
            # The keys in the order of the event's data everywhere else (_lead_update_event).
            func.json_build_object(
                literal("deliveryId"),
                _NEW_DELIVERY.c.id,
                literal("environment"),
                _NEW_UPDATE.c.environment,
                literal("partnerBookingId"),
                _NEW_UPDATE.c.partner_booking_id,
                literal("update"),
                bindparam("update", type_=JSON),
            ),
        ).select_from(_NEW_UPDATE.join(_NEW_DELIVERY, true())),
    )
    .returning(_EVENTS.c.id)
    .cte("lead_event")
)
_INSERT_DELIVERY_WITH_UPDATE = select(
    _NEW_DELIVERY.c.id.label("delivery_id"),
    _NEW_UPDATE.c.id.label("update_id"),
    _NEW_UPDATE.c.booking_id,
    _NEW_UPDATE_EVENT.c.id.label("event_id"),
).select_from(_NEW_DELIVERY.outerjoin(_NEW_UPDATE, true()).outerjoin(_NEW_UPDATE_EVENT, true()))


class NotJson(ValueError):
    """The body is not JSON at all."""


@dataclass
class Outcome:
    """What became of one delivery; every outcome is stored."""

    delivery_id: int
    state: str
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        """The HTTP status of the answer: 400 for a body that is not JSON, else 200."""
        return 400 if self.state == NOT_JSON else 200


def parse_body(body: bytes) -> Any:
    """The JSON document in ``body``; ``NotJson`` when it is not JSON (or not UTF-8), a
    ``ProblemError`` when it nests too deep or holds a number too large for a float."""
    try:
        return json_limits.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise NotJson(str(error)) from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def lead_update_problems(document: Any, expected_status: str) -> list[str]:
    """What is wrong with a lead status update body; empty when it is valid."""
    if not isinstance(document, dict):
        return ["the body must be a JSON object"]
    problems = []
    for name in _ID_FIELDS:
        value = document.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{name} must be a non-empty string")
        elif len(value) > _ID_MAX:
            problems.append(f"{name} must be at most {_ID_MAX} characters")
    if document.get("status") not in (None, expected_status) and isinstance(document.get("status"), str):
        problems.append(f"status must be {expected_status} on this path")
    if not _is_timestamp(document.get("timestamp")):
        problems.append("timestamp must be Unix seconds")
    data = document.get("eventData")
    if not isinstance(data, dict):
        return problems + ["eventData must be an object"]
    for name in _EVENT_FIELDS[expected_status] + ("leadDeliveredTimestamp",):
        if not _is_timestamp(data.get(name)):
            problems.append(f"eventData.{name} must be Unix seconds")
    if expected_status == "Declined" and not isinstance(data.get("declineReason"), str):
        problems.append("eventData.declineReason must be a string")
    if expected_status == "Invoiced":
        problems += _invoice_problems(data)
    if _unstorable(document):
        problems.append(UNSTORABLE)
    return problems


def _invoice_problems(data: dict) -> list[str]:
    problems = []
    problems += _amount_problems(data.get("totalPrice"), "eventData.totalPrice")
    skus = data.get("skus")
    if not isinstance(skus, list):
        return problems + ["eventData.skus must be a list"]
    for index, sku in enumerate(skus):
        where = f"eventData.skus[{index}]"
        if not isinstance(sku, dict):
            problems.append(f"{where} must be an object")
            continue
        for name in ("name", "code"):
            if not isinstance(sku.get(name), str):
                problems.append(f"{where}.{name} must be a string")
        for name in ("price", "quantity"):
            problems += _amount_problems(sku.get(name), f"{where}.{name}")
        for name in ("serialNumber", "model"):  # equipment only
            if name in sku and not isinstance(sku[name], str):
                problems.append(f"{where}.{name} must be a string")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _amount_problems(value: Any, where: str) -> list[str]:
    if not _is_number(value):
        return [f"{where} must be a number"]
    # Compared as it is: an integer of 400 digits is no float (and no real amount).
    if abs(value) > AMOUNT_MAX or (isinstance(value, float) and not math.isfinite(value)):
        return [f"{where} must be at most {AMOUNT_MAX:,} in size"]
    return []


def _is_timestamp(value: Any) -> bool:
    # Integer seconds; 1.0 too (the examples write decimals elsewhere). Bounded so that it
    # fits the column and a datetime.
    return _is_number(value) and float(value).is_integer() and 0 <= value < 2**31


def _unstorable(value: Any) -> bool:
    """Whether a parsed document holds text no database column takes: NUL (PostgreSQL) or a
    lone surrogate such as "\\ud800" (not UTF-8 at all). The raw bytes keep it anyway."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def receive(topic: str, headers: dict, body: bytes, environment: str = PRODUCTION) -> Outcome:
    """Keep ``body``, posted to ``environment``'s URL, raw and judge it, in one transaction
    committed before the caller answers. The raw row is inserted with the state its body
    earns (a valid one as ``stored``: no second write unless it turns out a duplicate or
    about an unknown booking). When judging fails, the transaction is rolled back and the
    raw row alone commits, in state ``received``, for ``judge_waiting``."""
    received_at = clock.now()
    row = {"topic": topic, "environment": environment, "received_at": received_at, "headers": headers, "body": body}
    try:
        state, problems, document = _verdict(topic, body)
        if state == STORED and topic.startswith("leads/") and db.engine.dialect.name == "postgresql":
            occurred_at = clock.now()
            kept = db.session.execute(
                _INSERT_DELIVERY_WITH_UPDATE,
                {
                    **row,
                    "state": state,
                    **_update_values(document, topic, environment),
                    "occurred_at": occurred_at,
                    "update": document,
                },
            ).one()
            received = Received(kept.delivery_id, topic, environment, received_at, body)
            if kept.event_id is not None:
                events.written(kept.event_id, events.LEAD_UPDATED, occurred_at, _lead_update_event(received, document))
            state, problems = _lead_update_state(received, document, kept if kept.update_id is not None else None)
            outcome = _record(received, state, problems, recorded=STORED)
        else:
            delivery_id = db.session.execute(
                _INSERT_DELIVERY, {**row, "state": state, "problems": problems}
            ).scalar_one()
            received = Received(delivery_id, topic, environment, received_at, body)
            outcome = _write_judgment(received, state, problems, document, recorded=state)
        db.session.commit()
        return outcome
    except Exception:  # noqa: BLE001 - whatever went wrong, the raw delivery is kept
        db.session.rollback()
        log.exception("webhook delivery (%s): judging failed; it is kept received", topic)
    delivery_id = db.session.execute(_INSERT_DELIVERY, {**row, "state": RECEIVED, "problems": []}).scalar_one()
    db.session.commit()
    return Outcome(delivery_id, RECEIVED, [JUDGING_FAILED])


#: What an admin may judge again once its cause is fixed (a duplicate stays one).
FLAGGED = ("invalid", "not_json", "unknown_booking")


class NotFlagged(Exception):
    """Only a flagged delivery is judged again."""


def judge_again(delivery: WebhookDelivery, actor: str) -> Outcome:
    """Judge a flagged delivery again from its stored body, e.g. once the booking it names
    exists: an update about an unknown booking is joined to it, and a body that a newer rule
    accepts is recorded as if it had just arrived."""
    if delivery.state not in FLAGGED:
        raise NotFlagged(f"delivery {delivery.id} is {delivery.state}: only a flagged delivery is judged again")
    before = delivery.state
    record_event("webhook_judged_again", actor, {"delivery_id": delivery.id, "state": before})
    db.session.commit()  # kept whatever the judgement does with its own transaction
    if before == UNKNOWN_BOOKING:
        update = db.session.scalars(select(LeadStatusUpdate).where(LeadStatusUpdate.delivery_id == delivery.id)).one()
        update.booking_id = db.session.scalars(
            _BOOKING_IN_ENVIRONMENT,
            {"booking_ref": update.partner_booking_id, "booking_environment": update.environment},
        ).first()
        if update.booking_id is not None:
            delivery.state, delivery.problems = STORED, []
        db.session.commit()
        return Outcome(delivery.id, delivery.state, list(delivery.problems))
    outcome = _judge_in_savepoint(
        Received(delivery.id, delivery.topic, delivery.environment, delivery.received_at, delivery.body)
    )
    db.session.commit()
    return outcome


def judge_waiting(batch: int = 100) -> int:
    """Judge the deliveries left in ``received`` (their judging failed, or the process died
    before it was written); the number judged. One that fails a second time is flagged
    ``invalid`` for an admin rather than retried for ever. Several processes may sweep at
    once: on PostgreSQL each takes rows the others have not locked."""
    waiting = (
        select(
            WebhookDelivery.id,
            WebhookDelivery.topic,
            WebhookDelivery.environment,
            WebhookDelivery.received_at,
            WebhookDelivery.body,
        )
        .where(WebhookDelivery.state == RECEIVED)
        .order_by(WebhookDelivery.id)
        .limit(batch)
    )
    if db.engine.dialect.name == "postgresql":
        waiting = waiting.with_for_update(skip_locked=True)
    rows = db.session.execute(waiting).all()
    for row in rows:
        waiting_delivery = Received(*row)
        outcome = _judge_in_savepoint(waiting_delivery)
        if outcome.state == RECEIVED:
            _record(waiting_delivery, INVALID, [JUDGING_FAILED_TWICE])
    db.session.commit()
    return len(rows)


@dataclass(frozen=True)
class Received:
    """A kept delivery, as much of it as its judging reads."""

    delivery_id: int
    topic: str
    environment: str
    received_at: datetime
    body: bytes


def _judge_in_savepoint(delivery: Received) -> Outcome:
    try:
        with db.session.begin_nested():
            return _judge(delivery)
    except Exception:  # noqa: BLE001 - whatever went wrong, the raw delivery is kept
        log.exception(
            "webhook delivery %s (%s): judging failed; it stays received", delivery.delivery_id, delivery.topic
        )
        return Outcome(delivery.delivery_id, RECEIVED, [JUDGING_FAILED])


def _judge(delivery: Received) -> Outcome:
    state, problems, document = _verdict(delivery.topic, delivery.body)
    return _write_judgment(delivery, state, problems, document)


def _verdict(topic: str, body: bytes) -> tuple[str, list[str], Any]:
    """What the body alone decides, before anything is written: ``not_json`` or ``invalid``
    with the problems, else ``stored`` and the parsed document."""
    try:
        document = parse_body(body)
    except NotJson as error:
        return NOT_JSON, [f"the body is not JSON: {error}"], None
    except ProblemError as error:
        return INVALID, [str(problem) for problem in error.problems], None
    if topic.startswith("leads/"):
        problems = lead_update_problems(document, LEAD_EVENTS[topic.removeprefix("leads/")])
    else:
        problems = [UNSTORABLE] if _unstorable(document) else []
    return (INVALID, problems, None) if problems else (STORED, [], document)


def _write_judgment(
    delivery: Received, state: str, problems: list[str], document: Any, recorded: str | None = None
) -> Outcome:
    """Record a stored document (a lead update may turn out a duplicate, or about an unknown
    booking) and the delivery's final state, unless the row holds it already (``recorded``)."""
    if state == STORED and delivery.topic.startswith("leads/"):
        # One statement: the booking looked up, and nothing written when the statusUpdateId
        # was recorded before, or a moment ago by another worker (whose commit this one waits for).
        written = db.session.execute(
            _INSERT_NEW_UPDATE[db.engine.dialect.name == "postgresql"],
            {"delivery_id": delivery.delivery_id, **_update_values(document, delivery.topic, delivery.environment)},
        ).first()
        if written is not None:
            events.record(events.LEAD_UPDATED, _lead_update_event(delivery, document))
        state, problems = _lead_update_state(delivery, document, written)
    elif state == STORED:
        _record_push(delivery, document)
    return _record(delivery, state, problems, recorded)


def _record_push(delivery: Received, document: Any) -> None:
    delivery_id, topic, received_at = delivery.delivery_id, delivery.topic, delivery.received_at
    if topic == "availabilities":
        db.session.execute(
            insert(cast(Table, AvailabilitySnapshot.__table__)),
            [
                {
                    "delivery_id": delivery_id,
                    "environment": delivery.environment,
                    "received_at": received_at,
                    "payload": item,
                    **_availability_keys(item),
                }
                for item in (document if isinstance(document, list) else [document])
            ],
        )
    events.record(
        events.SERVICETITAN_UPDATE,
        {
            "deliveryId": delivery_id,
            "environment": delivery.environment,
            "topic": topic,
            "receivedAt": received_at.isoformat(),
            "payload": document,
        },
    )


def _availability_keys(item: Any) -> dict:
    """The ids an undocumented availability item names, under the Leads API's spellings."""
    if not isinstance(item, dict):
        return {"account_id": "", "profile_id": "", "service_id": ""}
    keys = {}
    for column, names in (
        ("account_id", ("accountId", "tenantId")),
        ("profile_id", ("profileId",)),
        ("service_id", ("serviceId", "jobTypeId", "partnerJobTypeKey")),
    ):
        value = next(
            (item[n] for n in names if isinstance(item.get(n), (str, int)) and not isinstance(item.get(n), bool)), ""
        )
        keys[column] = str(value)[:_ID_MAX]
    return keys


def _update_values(document: Any, topic: str, environment: str) -> dict[str, Any]:
    """The parameters of a valid lead update's INSERT, but its delivery's id."""
    return {
        "status_update_id": document["statusUpdateId"],
        "environment": environment,
        "partner_booking_id": document["partnerBookingId"],
        "booking_ref": document["partnerBookingId"],
        "booking_environment": environment,
        "account_id": document["accountId"],
        "profile_id": document["profileId"],
        "status": LEAD_EVENTS[topic.removeprefix("leads/")],
        "event_timestamp": int(document["timestamp"]),
        "event_data": document["eventData"],
    }


def _lead_update_event(delivery: Received, document: Any) -> dict[str, Any]:
    return {
        "deliveryId": delivery.delivery_id,
        "environment": delivery.environment,
        "partnerBookingId": document["partnerBookingId"],
        "update": document,
    }


def _lead_update_state(delivery: Received, document: Any, written: Row | None) -> tuple[str, list[str]]:
    """The state and problems of a lead update's delivery, the update ``written`` (None: its
    statusUpdateId was recorded before)."""
    if written is None:
        return DUPLICATE, [f"statusUpdateId {document['statusUpdateId']!r} was received before"]
    if written.booking_id is None:
        return UNKNOWN_BOOKING, [
            f"no booking we sent has this partnerBookingId in the {delivery.environment} environment"
        ]
    return STORED, []


def _record(delivery: Received, state: str, problems: list[str], recorded: str | None = None) -> Outcome:
    if state != recorded:
        db.session.execute(_RECORD_STATE, {"delivery": delivery.delivery_id, "state": state, "problems": problems})
    if state in FLAGGED:
        flagged = {"deliveryId": delivery.delivery_id, "environment": delivery.environment, "state": state}
        events.record(events.WEBHOOK_FLAGGED, flagged | {"problems": problems})
    return Outcome(delivery.delivery_id, state, problems)


def invoice_total(update: LeadStatusUpdate) -> Decimal:
    """The invoice's totalPrice, exactly as written (a float would drift when summed)."""
    return Decimal(str(update.event_data.get("totalPrice", 0)))


def latest_availability(environment: str | None = None) -> list[dict]:
    """The newest availability ``environment`` (by default the default environment) pushed
    for each account, profile and service."""
    rows = db.session.scalars(
        select(AvailabilitySnapshot)
        .where(AvailabilitySnapshot.environment == (environment or default_environment()))
        .order_by(AvailabilitySnapshot.id.desc())
    )
    latest: dict[tuple, dict] = {}
    for row in rows:
        key = (row.account_id, row.profile_id, row.service_id)
        if key not in latest:
            latest[key] = {
                "environment": row.environment,
                "accountId": row.account_id,
                "profileId": row.profile_id,
                "serviceId": row.service_id,
                "receivedAt": row.received_at.isoformat(),
                "deliveryId": row.delivery_id,
                "payload": row.payload,
            }
    return sorted(latest.values(), key=lambda item: (item["accountId"], item["profileId"], item["serviceId"]))
