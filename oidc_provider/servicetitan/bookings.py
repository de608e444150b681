"""Bookings: checked against the partner's configuration, stored, and queued for ServiceTitan.

``submit_bookings`` is the Python API behind ``flask --app oidc_provider bookings send
FILE.json``: it takes one booking or a list (a dict, or JSON text, whose repeated keys are
caught), refuses the whole lot with every problem when one is wrong, and otherwise stores
each booking with its outbox message in one transaction. A partnerBookingId or
idempotencyToken used before is refused here, plainly, before ServiceTitan has to say
DuplicateBooking or DuplicateIdempotencyToken.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Booking, ExtraDetailParameter, JobType, OutboxMessage
from oidc_provider.core.problems import Problem
from oidc_provider.servicetitan import outbox
from oidc_provider.servicetitan.environments import default_environment
from oidc_provider.servicetitan.validation import (
    BookingCatalog,
    CheckedBooking,
    InvalidPayload,
    booking_problems,
    parse_json,
)


def catalog() -> BookingCatalog:
    """The job type keys and Extra Details keys configured for ServiceTitan."""
    return BookingCatalog(
        service_ids=frozenset(db.session.scalars(select(JobType.partner_key).where(JobType.partner_key.is_not(None)))),
        extra_detail_keys=frozenset(db.session.scalars(select(ExtraDetailParameter.key_folded))),
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


def describe(booking: Booking) -> dict[str, Any]:
    """A booking's identifiers and outcome, without the customer's personal data."""
    message = booking.message
    return {
        "partnerBookingId": booking.partner_booking_id,
        "idempotencyToken": message.idempotency_token,
        "environment": booking.environment,
        "accountId": booking.account_id,
        "profileId": booking.profile_id,
        "serviceId": booking.service_id,
        "state": message.state,
        "attempts": message.attempts,
        "error": message.last_error,
        "created_at": booking.created_at.isoformat(),
    }
