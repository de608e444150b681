"""POST /api/v1/bookings, GET /api/v1/bookings/{partnerBookingId}, GET /api/v1/bookings."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import jsonify, request, url_for

from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.pairing.bookable import route_booking
from oidc_provider.servicetitan import bookings
from oidc_provider.servicetitan.bookings import BookingConflict
from oidc_provider.web.partner_api.blueprint import bp
from oidc_provider.web.partner_api.leads import environment_filter
from oidc_provider.web.partner_api.problem_json import problem_response
from oidc_provider.web.partner_api.protection import current_caller, require_api_scope

LIMIT_DEFAULT, LIMIT_MAX = 50, 100


@bp.errorhandler(BookingConflict)
def _conflict(error: BookingConflict):
    return problem_response(409, error.problems)


@bp.post("/bookings")
@require_api_scope("bookings:write")
def post_booking():
    """Accept ServiceTitan's booking JSON: 202 when queued, 200 for a safe retry."""
    if not request.is_json:
        raise ProblemError([Problem("Content-Type", "send the booking as application/json")])
    environment = environment_filter()
    booking, created = bookings.accept_booking(
        request.get_data(),
        lambda account_id, profile_id: route_booking(account_id, profile_id, environment),
        current_caller().actor,
        personal=_personal(),
    )
    response = jsonify(booking)
    response.status_code = 202 if created else 200
    response.headers["Location"] = url_for(".get_booking", partner_booking_id=booking["partnerBookingId"])
    return response


@bp.get("/bookings/<partner_booking_id>")
@require_api_scope("bookings:read")
def get_booking(partner_booking_id: str):
    booking = bookings.find_booking(partner_booking_id)
    if booking is None:
        return problem_response(404, [Problem("partnerBookingId", f"no booking {partner_booking_id!r}")])
    return jsonify(bookings.describe(booking, personal=_personal()))


@bp.get("/bookings")
@require_api_scope("bookings:read")
def list_bookings():
    """Newest first, ``{"items": [...], "next": CURSOR_OR_NULL}``."""
    state = request.args.get("state")
    problems = []
    if state is not None and state not in bookings.STATES:
        problems.append(Problem("state", f"choose one of {', '.join(bookings.STATES)}"))
    since = _since(problems)
    limit = query_integer("limit", LIMIT_DEFAULT, 1, LIMIT_MAX, problems)
    cursor = query_integer("cursor", None, 1, 2**31 - 1, problems)
    environment = environment_filter()
    if problems:
        raise ProblemError(problems)
    rows, following = bookings.list_bookings(
        state, request.args.get("accountId"), environment, since, limit, before_id=cursor
    )
    timelines = bookings.timelines([row.partner_booking_id for row in rows])
    personal = _personal()
    items = [bookings.describe(row, personal, timelines[row.partner_booking_id]) for row in rows]
    return jsonify({"items": items, "next": str(following) if following else None})


def _personal() -> bool:
    return "bookings:personal" in current_caller().scopes


def query_integer(name: str, default, low: int, high: int, problems: list[Problem]):
    """The query parameter ``name``, a whole number from ``low`` to ``high``; a problem when not."""
    text = request.args.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        problems.append(Problem(name, f"an integer from {low} to {high}"))
        return default
    return int(text)


def _since(problems: list[Problem]) -> datetime | None:
    text = request.args.get("since")
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: a time zone that takes it out of years 1 to 9999
        problems.append(Problem("since", "an ISO 8601 date and time, e.g. 2026-12-01T00:00:00Z"))
        return None
