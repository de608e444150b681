"""Bookings: checked against the partner's configuration, stored, and queued for ServiceTitan.

``submit_bookings`` is the Python API behind ``flask --app oidc_provider bookings send
FILE.json``: it takes one booking or a list (a dict, or JSON text, whose repeated keys are
caught), refuses the whole lot with every problem when one is wrong, and otherwise stores
each booking with its outbox message in one transaction. A partnerBookingId or
idempotencyToken used before is refused here, plainly, before ServiceTitan has to say
DuplicateBooking or DuplicateIdempotencyToken.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import cache
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, insert, literal_column, not_, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from oidc_provider.core import audit, clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import (
    AuditEvent,
    Booking,
    ExtraDetailParameter,
    JobType,
    LeadStatusUpdate,
    OutboxMessage,
    column_parameters,
)
from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.servicetitan import events, outbox
from oidc_provider.servicetitan.environments import default_environment
from oidc_provider.servicetitan.validation import (
    BookingCatalog,
    CheckedBooking,
    InvalidPayload,
    booking_problems,
    parse_json,
)

_bookings, _messages, _updates, _events = (
    cast(Table, model.__table__) for model in (Booking, OutboxMessage, LeadStatusUpdate, AuditEvent)
)
# The catalog in one statement: the job type keys (kind 1) and the Extra Details keys (kind 2).
_CATALOG_PARTS = (
    select(literal_column("1").label("kind"), JobType.__table__.c.partner_key.label("key")).where(
        JobType.__table__.c.partner_key.is_not(None)
    ),
    select(literal_column("2"), ExtraDetailParameter.__table__.c.key_folded),
)
_SELECT_CATALOG = union_all(*_CATALOG_PARTS)
_EARLIER, _UPDATED = 0, 3
# What a new booking needs to know, in one statement: whether its partnerBookingId was
# accepted before (kind 0), the catalog, and whether lead status updates already name it
# (kind 3: its timeline is then read; ServiceTitan may report on a booking we did not know).
_SELECT_KNOWN = union_all(
    select(literal_column(str(_EARLIER)), _bookings.c.partner_booking_id).where(
        _bookings.c.partner_booking_id == bindparam("partner_booking_id")
    ),
    *_CATALOG_PARTS,
    select(literal_column(str(_UPDATED)), _updates.c.status_update_id).where(
        _updates.c.partner_booking_id == bindparam("partner_booking_id")
    ),
)
_SELECT_TOKEN_USED = select(_messages.c.id).where(_messages.c.idempotency_token == bindparam("token"))
_INSERT_MESSAGE, _INSERT_BOOKING = insert(_messages).returning(_messages.c.id), insert(_bookings)
_SELECT_TIMELINES = (
    select(
        _updates.c.partner_booking_id,
        _updates.c.status,
        _updates.c.event_timestamp,
        _updates.c.status_update_id,
        _updates.c.event_data,
    )
    .where(_updates.c.partner_booking_id.in_(bindparam("partner_booking_ids", expanding=True)))
    .order_by(_updates.c.event_timestamp, _updates.c.id)
)


def catalog() -> BookingCatalog:
    """The job type keys and Extra Details keys configured for ServiceTitan."""
    return _catalog(db.session.connection().execute(_SELECT_CATALOG).all())


def _catalog(rows) -> BookingCatalog:
    return BookingCatalog(
        service_ids=frozenset(key for kind, key in rows if kind == 1),
        extra_detail_keys=frozenset(key for kind, key in rows if kind == 2),
    )


def parse_bookings(document: Any) -> list[Any]:
    """A booking or a list of them, from a dict, a list, or JSON text."""
    if isinstance(document, (str, bytes)):
        document = parse_json(document)
    if isinstance(document, list):
        if not document:
            raise InvalidPayload([Problem("", "the file holds no booking")])
        return document
    return [document]


def submit_booking(booking: Any, environment: str | None = None) -> Booking:
    """Validate, store and queue one booking; ``InvalidPayload`` lists what is wrong."""
    if isinstance(booking, (str, bytes)):
        booking = parse_json(booking)
    if isinstance(booking, list):
        raise InvalidPayload([Problem("", "expected one booking, not a list")])
    [stored] = submit_bookings([booking], environment)
    return stored


def submit_bookings(document: Any, environment: str | None = None) -> list[Booking]:
    """Validate every booking, then store and queue them all, or none."""
    environment = environment or default_environment()
    bookings = parse_bookings(document)
    known = catalog()
    problems: list[Problem] = []
    seen_ids: set[str] = set()
    seen_tokens: set[str] = set()
    for index, booking in enumerate(bookings):
        found = booking_problems(booking, known) or _duplicate_problems(booking, seen_ids, seen_tokens)
        problems += [_within(index, problem) for problem in found] if len(bookings) > 1 else found
    if problems:
        raise InvalidPayload(problems)

    stored = []
    for booking in map(CheckedBooking, bookings):  # each one passed booking_problems above
        message = outbox.enqueue_booking(environment, booking)
        slot = booking["slot"]
        row = Booking(
            partner_booking_id=booking["partnerBookingId"],
            environment=environment,
            account_id=slot["accountId"],
            profile_id=slot["profileId"],
            service_id=slot["serviceId"],
            message=message,
        )
        db.session.add(row)
        stored.append(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise InvalidPayload(
            [Problem("partnerBookingId", "a booking with this partnerBookingId or idempotencyToken was just submitted")]
        ) from None
    return stored


def _within(index: int, problem: Problem) -> Problem:
    """A problem of the index-th booking of a list, named from the list."""
    return Problem(f"[{index}].{problem.where}" if problem.where else f"[{index}]", problem.message)


def _duplicate_problems(booking: dict, seen_ids: set[str], seen_tokens: set[str]) -> list[Problem]:
    problems = []
    booking_id, token = booking["partnerBookingId"], booking["idempotencyToken"]
    earlier = db.session.scalar(select(Booking).where(Booking.partner_booking_id == booking_id))
    if earlier is not None or booking_id in seen_ids:
        state = f" (booking #{earlier.id}, {earlier.message.state})" if earlier else ""
        problems.append(Problem("partnerBookingId", f"{booking_id!r} was already submitted{state}: a real duplicate"))
    used = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_token == token))
    if used or token in seen_tokens:
        problems.append(Problem("idempotencyToken", f"{token!r} was already used: every booking needs a new one"))
    seen_ids.add(booking_id)
    seen_tokens.add(token)
    return problems


def find_booking(partner_booking_id: str) -> Booking | None:
    return db.session.scalar(select(Booking).where(Booking.partner_booking_id == partner_booking_id))


# -- the partner API's booking: accepted once, then followed ---------------------------------


class BookingConflict(ProblemError):
    """The request contradicts a booking already accepted (409)."""


def accept_booking(
    document: Any, route: Callable[[str, str], str], actor: str, personal: bool = False
) -> tuple[dict[str, Any], bool]:
    """Accept one booking from the partner's systems: ``(booking, True)`` when it is new and
    queued, ``(booking, False)`` when the same partnerBookingId came with the same body
    before (compared without idempotencyToken): a safe retry, answered with the booking as
    it stands, nothing queued twice. The product owns the idempotency token: one is minted
    when the body has none, and a given one must never have been used.

    ``route(account_id, profile_id)`` answers the environment the booking goes to, or
    raises ``ProblemError`` (the pairing room knows which accounts may be booked).
    Raises ``InvalidPayload`` for content ServiceTitan would refuse, ``BookingConflict``
    for a partnerBookingId accepted with another body or a used idempotencyToken. The
    booking comes back described (``describe``), a new one as it was committed."""
    booking = parse_json(document) if isinstance(document, (str, bytes)) else document
    if not isinstance(booking, dict):
        raise InvalidPayload([Problem("", "the booking must be a JSON object")])
    if nul := _nul_problems(booking, ""):
        raise InvalidPayload(nul)
    booking_id = booking.get("partnerBookingId")
    rows = (
        db.session.connection()
        .execute(_SELECT_KNOWN, {"partner_booking_id": booking_id if isinstance(booking_id, str) else None})
        .all()
    )
    kinds = {kind for kind, _ in rows}
    # A retry is rare: the ORM reads the earlier booking only then.
    if _EARLIER in kinds and (earlier := find_booking(str(booking_id))):
        return describe(_replayed(earlier, booking), personal), False
    given = "idempotencyToken" in booking
    # In place: a JsonObject remembers the keys its text repeated.
    booking.setdefault("idempotencyToken", uuid.uuid4().hex)
    problems = booking_problems(booking, _catalog(rows))
    if problems:
        raise InvalidPayload(problems)
    checked_id: str = booking["partnerBookingId"]
    token = booking["idempotencyToken"]
    if given and db.session.connection().execute(_SELECT_TOKEN_USED, {"token": token}).first():
        raise BookingConflict([Problem("idempotencyToken", "was already used: leave it out and one is minted")])
    slot = booking["slot"]
    environment = route(slot["accountId"], slot["profileId"])
    try:
        message = outbox.booking_message(environment, CheckedBooking(booking))
        values = {
            "partner_booking_id": booking_id,
            "environment": environment,
            "account_id": slot["accountId"],
            "profile_id": slot["profileId"],
            "service_id": slot["serviceId"],
            "created_at": clock.now(),
        }
        message_id = _store(
            message, values, ("booking_accepted", actor, {"partnerBookingId": booking_id, "environment": environment})
        )
        timeline = timelines([checked_id])[checked_id] if _UPDATED in kinds else []
        # The answer is built from the values written, as plain attributes: model instances
        # (instrumented, in no session) cost more to build than the INSERT.
        unsent = {"claimed_until": None, "last_attempt_at": None, "finished_at": None, "last_error": None}
        written = SimpleNamespace(**values, message=SimpleNamespace(id=message_id, **message, **unsent))
        described = describe(written, personal, timeline)
        db.session.commit()
    except IntegrityError:  # the same booking, or token, accepted a moment ago by another request
        db.session.rollback()
        if (earlier := find_booking(str(booking_id))) is not None:  # checked above: a string
            return describe(_replayed(earlier, booking), personal), False
        raise BookingConflict([Problem("idempotencyToken", "was just used by another booking")]) from None
    return described, True


def _store(message: dict[str, Any], booking: dict[str, Any], event: tuple[str, str, dict]) -> int:
    """Write a new booking: its outbox message, the booking, its audit event, as Core
    statements in the session's transaction (the partner API's hot path skips the unit of
    work). Answers the message's id."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":  # SQLite has no data-modifying CTE
        statement = _store_together(tuple(message), tuple(booking))
        values = {f"message_{column}": value for column, value in message.items()}
        values |= {f"booking_{column}": value for column, value in booking.items()}
        values |= audit.event_parameters(*event)
        return connection.execute(statement, values).scalar_one()
    message_id = connection.execute(_INSERT_MESSAGE, message).scalar_one()
    connection.execute(_INSERT_BOOKING, booking | {"message_id": message_id})
    audit.record_event(*event)
    return message_id


@cache
def _store_together(message_columns: tuple[str, ...], booking_columns: tuple[str, ...]):
    """The three rows of ``_store`` in one statement, one round trip: data-modifying CTEs.
    Parameters are named after their table's columns: ``message_kind``, ``booking_created_at``, ..."""
    new_message = (
        insert(_messages).values(column_parameters(_messages, message_columns, "message_")).returning(_messages.c.id)
    ).cte("new_message")
    booking_values = column_parameters(_bookings, booking_columns, "booking_")
    new_booking = insert(_bookings).from_select(
        [*booking_values, "message_id"], select(*booking_values.values(), new_message.c.id)
    )
    new_event = insert(_events).values(audit.EVENT_PARAMETERS)
    return select(new_message.c.id).add_cte(new_booking.cte("new_booking"), new_event.cte("new_event"))


def _nul_problems(value: Any, where: str) -> list[Problem]:
    """A NUL character anywhere: nothing ServiceTitan takes holds one, and PostgreSQL cannot
    even compare text with one."""
    if isinstance(value, str):
        return [Problem(where, "must not contain a NUL character")] if "\x00" in value else []
    if isinstance(value, dict):
        return [
            problem
            for key, child in value.items()
            for problem in _nul_problems(key, where) + _nul_problems(child, f"{where}.{key}" if where else key)
        ]
    if isinstance(value, list):
        return [problem for index, child in enumerate(value) for problem in _nul_problems(child, f"{where}[{index}]")]
    return []


def _replayed(earlier: Booking, booking: dict) -> Booking:
    if _without_token(earlier.message.payload) != _without_token(booking):
        raise BookingConflict(
            [Problem("partnerBookingId", f"{earlier.partner_booking_id!r} was accepted before with another body")]
        )
    return earlier


def _without_token(booking: dict) -> dict:
    return {key: value for key, value in booking.items() if key != "idempotencyToken"}


#: What became of a booking, in one vocabulary for the API, the CLI and the console.
STATES = ("queued", "sending", "delivered", "failed", "outcome_unknown", "discarded")


def booking_state(message: OutboxMessage | SimpleNamespace, now: datetime | None = None) -> str:
    """``queued`` (waiting to be sent or retried), ``sending`` (claimed by a worker),
    ``outcome_unknown`` (an attempt's answer never arrived and no later one settled it),
    or the outbox's final states."""
    if message.state != outbox.PENDING:
        return message.state
    if message.claimed_until is not None and message.claimed_until > (now or clock.now()):
        return "sending"
    return "outcome_unknown" if message.outcome_unknown else "queued"


def _state_condition(state: str, now: datetime):
    message = OutboxMessage
    if state in (outbox.DELIVERED, outbox.FAILED, outbox.DISCARDED):
        return message.state == state
    claimed = and_(message.claimed_until.is_not(None), message.claimed_until > now)
    if state == "sending":
        return and_(message.state == outbox.PENDING, claimed)
    unknown = message.outcome_unknown.is_(True) if state == "outcome_unknown" else message.outcome_unknown.is_(False)
    return and_(message.state == outbox.PENDING, not_(claimed), unknown)


def list_bookings(
    state: str | None = None,
    account_id: str | None = None,
    environment: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> tuple[list[Booking], int | None]:
    """Newest first: a page of bookings and the id to continue before (``None`` on the last
    page). A cursor of ids stays correct while bookings are added."""
    query = select(Booking).join(Booking.message).options(contains_eager(Booking.message))
    if state is not None:
        query = query.where(_state_condition(state, clock.now()))
    if account_id is not None:
        query = query.where(Booking.account_id == account_id)
    if environment is not None:
        query = query.where(Booking.environment == environment)
    if since is not None:
        query = query.where(Booking.created_at >= since)
    if before_id is not None:
        query = query.where(Booking.id < before_id)
    rows = list(db.session.scalars(query.order_by(Booking.id.desc()).limit(limit + 1)))
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


def timelines(partner_booking_ids: list[str]) -> dict[str, list[dict]]:
    """Each booking's lead status updates, in event-time order, as ServiceTitan sent them."""
    found: dict[str, list[dict]] = {booking_id: [] for booking_id in partner_booking_ids}
    if not partner_booking_ids:
        return found
    for update in db.session.connection().execute(_SELECT_TIMELINES, {"partner_booking_ids": partner_booking_ids}):
        found[update.partner_booking_id].append(
            {
                "status": update.status,
                "timestamp": update.event_timestamp,
                "statusUpdateId": update.status_update_id,
                "eventData": update.event_data,
            }
        )
    return found


def describe(
    booking: Booking | SimpleNamespace, personal: bool = False, timeline: list[dict] | None = None
) -> dict[str, Any]:
    """A booking as the partner API and the CLI's --json show it. The customer's personal
    data (``userInformation``) only when ``personal``; the timeline is read when not given."""
    message = booking.message
    slot = message.payload.get("slot", {})
    described = {
        "partnerBookingId": booking.partner_booking_id,
        "state": booking_state(message),
        "environment": booking.environment,
        "accountId": booking.account_id,
        "profileId": booking.profile_id,
        "serviceId": booking.service_id,
        "startSec": slot.get("startSec"),
        "durationSec": slot.get("durationSec"),
        "idempotencyToken": message.idempotency_token,
        "createdAt": _iso(booking.created_at),
        "lastAttemptAt": _iso(message.last_attempt_at),
        "finishedAt": _iso(message.finished_at),
        "attempts": message.attempts,
        "error": message.last_error if message.state != outbox.DELIVERED else None,
        "timeline": timeline
        if timeline is not None
        else timelines([booking.partner_booking_id])[booking.partner_booking_id],
    }
    if personal:
        described["userInformation"] = message.payload.get("userInformation")
    return described


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _record_outcome(message: OutboxMessage, state: str, error: dict | None, outcome_unknown: bool) -> None:
    """The event of a booking's outcome: delivered, refused, or its answer lost (once, when
    an attempt first leaves it unknown)."""
    if state == outbox.DELIVERED:
        kind, error = events.BOOKING_DELIVERED, None
    elif state == outbox.FAILED:
        kind = events.BOOKING_FAILED
    elif outcome_unknown and not message.outcome_unknown:
        kind = events.BOOKING_OUTCOME_UNKNOWN
    else:
        return
    slot = message.payload.get("slot", {})
    events.record(
        kind,
        {
            "partnerBookingId": message.payload.get("partnerBookingId"),
            "environment": message.environment,
            "accountId": slot.get("accountId"),
            "profileId": slot.get("profileId"),
            "serviceId": slot.get("serviceId"),
            "attempts": message.attempts + 1,
            "error": error,
        },
    )


outbox.outcome_recorders[outbox.BOOKING] = _record_outcome
