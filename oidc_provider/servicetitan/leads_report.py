"""What became of the leads we sent: one lead's timeline, and the report over all of them.

Updates are ordered by ServiceTitan's event ``timestamp``, not by arrival: deliveries are
not retried and may arrive out of order. Only updates about bookings we sent count in the
report; the others stay flagged on their deliveries. A report is of one ServiceTitan
environment, so that sandbox test leads never count in production's numbers.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Booking, LeadStatusUpdate
from oidc_provider.servicetitan.environments import default_environment
from oidc_provider.servicetitan.webhooks import invoice_total

FUNNEL = ("sent", "accepted", "declined", "scheduled", "invoiced")
_STAGE = {"Accepted": "accepted", "Declined": "declined", "AppointmentScheduled": "scheduled", "Invoiced": "invoiced"}


def timeline(partner_booking_id: str) -> dict | None:
    """The booking we sent and every status update about it, in event-time order; None
    when neither exists."""
    booking = db.session.scalar(select(Booking).where(Booking.partner_booking_id == partner_booking_id))
    updates_query = (
        select(LeadStatusUpdate)
        .where(LeadStatusUpdate.partner_booking_id == partner_booking_id)
        .order_by(LeadStatusUpdate.event_timestamp, LeadStatusUpdate.id)
    )
    if booking is not None:  # another environment's update with the same id is not about it
        updates_query = updates_query.where(LeadStatusUpdate.environment == booking.environment)
    updates = db.session.scalars(updates_query).all()
    if booking is None and not updates:
        return None
    return {
        "partnerBookingId": partner_booking_id,
        "booking": None
        if booking is None
        else {
            "accountId": booking.account_id,
            "profileId": booking.profile_id,
            "serviceId": booking.service_id,
            "environment": booking.environment,
            "createdAt": booking.created_at.isoformat(),
        },
        "updates": [
            {
                "status": u.status,
                "timestamp": u.event_timestamp,
                "at": _iso(u.event_timestamp),
                "statusUpdateId": u.status_update_id,
                "environment": u.environment,
                "deliveryId": u.delivery_id,
                "eventData": u.event_data,
            }
            for u in updates
        ],
    }


def report(environment: str | None = None) -> dict:
    """The funnel, decline reasons, delivery-to-acceptance time and invoiced revenue per
    day, overall and per account and profile, of the bookings sent to ``environment`` (by
    default the default environment) and the updates about them."""
    environment = environment or default_environment()
    groups: dict[tuple[str, str], _Group] = defaultdict(_Group)
    total = _Group()
    sent = select(Booking.account_id, Booking.profile_id, Booking.partner_booking_id).where(
        Booking.environment == environment
    )
    # An update is linked only to a booking of its own environment.
    updates_query = (
        select(LeadStatusUpdate)
        .join(Booking, Booking.id == LeadStatusUpdate.booking_id)
        .where(Booking.environment == environment)
        .order_by(LeadStatusUpdate.id)
    )
    for account_id, profile_id, partner_booking_id in db.session.execute(sent):
        for group in (total, groups[(account_id, profile_id)]):
            group.stages["sent"].add(partner_booking_id)
    updates = db.session.scalars(updates_query)
    for update in updates:
        for group in (total, groups[(update.account_id, update.profile_id)]):
            group.add(update)
    return {
        "environment": environment,
        "total": total.summary(),
        "byProfile": [
            {"accountId": account_id, "profileId": profile_id, **group.summary()}
            for (account_id, profile_id), group in sorted(groups.items())
        ],
    }


class _Group:
    def __init__(self) -> None:
        self.stages: dict[str, set[str]] = {stage: set() for stage in FUNNEL}
        self.decline_reasons: Counter[str] = Counter()
        self.acceptance_seconds: list[int] = []
        self.revenue: dict[str, Decimal] = defaultdict(Decimal)

    def add(self, update: LeadStatusUpdate) -> None:
        data = update.event_data
        self.stages[_STAGE[update.status]].add(update.partner_booking_id)
        if update.status == "Declined":
            self.decline_reasons[data.get("declineReason") or "(none given)"] += 1
        elif update.status == "Accepted":
            self.acceptance_seconds.append(int(data["acceptedTimestamp"]) - int(data["leadDeliveredTimestamp"]))
        elif update.status == "Invoiced":
            self.revenue[_iso(int(data["invoicedTimestamp"]))[:10]] += invoice_total(update)

    def summary(self) -> dict:
        seconds = self.acceptance_seconds
        return {
            "funnel": {stage: len(ids) for stage, ids in self.stages.items()},
            "declineReasons": dict(self.decline_reasons.most_common()),
            "acceptanceSeconds": {
                "count": len(seconds),
                "median": statistics.median(seconds) if seconds else None,
                "max": max(seconds) if seconds else None,
            },
            # Decimal strings: money keeps its cents exactly in JSON and CSV.
            "revenueByDay": {day: str(amount) for day, amount in sorted(self.revenue.items())},
            "revenue": str(sum(self.revenue.values(), Decimal(0))),
        }


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()
