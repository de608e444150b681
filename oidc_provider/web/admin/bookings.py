"""Bookings sent to ServiceTitan: searched and filtered, newest first; a booking's state,
every attempt with ServiceTitan's answer, and what became of the lead; resend and discard.

The customer's personal data (name, telephone, email, address, description, extra
details) stays hidden until an admin asks for it, and each time they do is in the audit log.
"""

from __future__ import annotations

from flask import Blueprint, render_template, url_for

from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Booking
from oidc_provider.servicetitan import leads_report
from oidc_provider.web.admin import forms, listings
from oidc_provider.web.admin.auth import actor
from oidc_provider.web.admin.outbox import resend_or_discard

bp = Blueprint("bookings", __name__)

FILTERS = ("q", "state", "since", "until", "environment")
#: What of a booking's payload is the customer's, shown only on request.
PERSONAL_FIELDS = ("userInformation", "description", "extraDetails", "externalBookingUrl")


@bp.get("/bookings")
def index():
    filters, problems = listings.query_filters(FILTERS)
    # Bookings only grow: a count on every view would cost more than the page.
    page = listings.page_of(listings.bookings(**filters), count=False)
    body = render_template(
        "admin/bookings.html",
        page=page,
        filters=filters,
        filters_set={k: v for k, v in filters.items() if v},
        state_options=[("", "Any")] + [(state, state) for state in listings.BOOKING_STATES],
        environment_options=listings.ENVIRONMENT_OPTIONS,
        problems=problems,
    )
    return body, 422 if problems else 200


def _booking(booking_id: int) -> Booking:
    return forms.found(db.session.get(Booking, booking_id))


@bp.get("/bookings/<int:booking_id>")
def show(booking_id, personal: dict | None = None, error: str | None = None, status: int = 200):
    booking = _booking(booking_id)
    body = render_template(
        "admin/booking.html",
        booking=booking,
        message=booking.message,
        attempts=booking.message.attempt_log,
        timeline=leads_report.timeline(booking.partner_booking_id),
        personal=personal,
        error=error,
    )
    return body, status


@bp.post("/bookings/<int:booking_id>/personal-data")
def personal_data(booking_id):
    booking = _booking(booking_id)
    record_event(
        "booking_personal_data_viewed",
        actor(),
        {"booking_id": booking.id, "partnerBookingId": booking.partner_booking_id},
    )
    db.session.commit()
    payload = booking.message.payload
    return show(booking_id, personal={name: payload[name] for name in PERSONAL_FIELDS if name in payload})


@bp.post("/bookings/<int:booking_id>/resend")
def resend(booking_id):
    return _act(booking_id, "resend")


@bp.post("/bookings/<int:booking_id>/discard")
def discard(booking_id):
    return _act(booking_id, "discard")


def _act(booking_id: int, action: str):
    booking = _booking(booking_id)
    back = url_for(".show", booking_id=booking_id)
    return resend_or_discard(booking.message, action, back, lambda text: show(booking_id, error=text, status=409))
