"""flask bookings: send bookings to ServiceTitan and see what became of them."""

import click
from flask import current_app
from sqlalchemy import select

from oidc_provider.cli.output import CommandGroup, fail, json_option, report
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Booking
from oidc_provider.servicetitan import bookings, outbox
from oidc_provider.servicetitan.environments import ENVIRONMENTS
from oidc_provider.servicetitan.validation import InvalidPayload

group = CommandGroup("bookings", help="Send bookings to ServiceTitan.")


@group.command("send")
@click.argument("file", type=click.File("rb"))
@click.option("--environment", type=click.Choice(ENVIRONMENTS), help="Default: OIDC_PROVIDER_SERVICETITAN_ENVIRONMENT.")
@click.option(
    "--now", "send_now", is_flag=True, help="Send at once from this command instead of leaving it to the outbox worker."
)
@json_option
def send(file, environment, send_now, as_json):
    """Validate and queue the booking(s) in FILE (one JSON object, or a list; - reads stdin).

    A file with any problem is refused whole, every problem listed."""
    try:
        stored = bookings.submit_bookings(file.read(), environment)
    except InvalidPayload as error:
        fail("the booking file was refused", error.problems)
    if send_now:
        outbox.OutboxWorker(current_app._get_current_object()).run_once()
        db.session.expire_all()
    data = [bookings.describe(row) for row in stored]
    report(data, as_json, "\n".join(_line(d) for d in data))


@group.command("show")
@click.argument("partner_booking_id")
@json_option
def show(partner_booking_id, as_json):
    """One booking's identifiers and outcome."""
    row = bookings.find_booking(partner_booking_id)
    if row is None:
        fail(f"no booking with partnerBookingId {partner_booking_id!r}")
    data = bookings.describe(row)
    report(data, as_json, _line(data))


@group.command("list")
@click.option("--limit", default=50, show_default=True, help="Newest first, at most this many.")
@json_option
def list_bookings(limit, as_json):
    """The latest bookings and their outcomes."""
    rows = db.session.scalars(select(Booking).order_by(Booking.id.desc()).limit(limit))
    data = [bookings.describe(row) for row in rows]
    report(data, as_json, "\n".join(_line(d) for d in data) or "no bookings yet")


def _line(booking: dict) -> str:
    error = booking["error"]
    line = f"{booking['partnerBookingId']}  {booking['state']}  (idempotencyToken {booking['idempotencyToken']})"
    if error and booking["state"] == "failed":
        line += f"  {error['name']} {error.get('code') or ''}: {error.get('message')}"
    return line
