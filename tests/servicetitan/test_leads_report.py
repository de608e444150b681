"""The leads report and a lead's timeline, from bookings and stored status updates, and
their commands (`flask leads report --json`, `flask leads timeline`)."""

from __future__ import annotations

import json

from oidc_provider.core.extensions import db
from oidc_provider.core.models import Booking, LeadStatusUpdate, WebhookDelivery
from oidc_provider.servicetitan import leads_report
from tests.servicetitan.test_webhooks import add_booking

DAY = 86400
T0 = 1_700_006_400  # 2023-11-15T00:00:00Z


def update(app, partner_booking_id, status, timestamp, booked=True, account="acct-hvac", profile="p-north", **data):
    with app.app_context():
        delivery = WebhookDelivery(
            topic="leads/x", environment="sandbox", headers={}, body=b"{}", state="stored", problems=[]
        )
        db.session.add(delivery)
        db.session.flush()
        booking_id = None
        if booked:
            booking_id = db.session.scalar(
                db.select(Booking.id).where(Booking.partner_booking_id == partner_booking_id)
            )
        db.session.add(
            LeadStatusUpdate(
                status_update_id=f"{partner_booking_id}-{status}-{timestamp}",
                delivery_id=delivery.id,
                environment="sandbox",
                partner_booking_id=partner_booking_id,
                booking_id=booking_id,
                account_id=account,
                profile_id=profile,
                status=status,
                event_timestamp=timestamp,
                event_data={"leadDeliveredTimestamp": T0, **data},
            )
        )
        db.session.commit()


def scenario(app):
    """In the sandbox (the default environment of tests): b1 accepted after 10 min,
    scheduled, invoiced 400.10; b2 declined; b3 (p-south) accepted after 1 h and invoiced
    99.95 the next day; b4 sent, nothing yet."""
    add_booking(app, "b1", environment="sandbox")
    add_booking(app, "b2", environment="sandbox")
    add_booking(app, "b3", profile_id="p-south", environment="sandbox")
    add_booking(app, "b4", account_id="acct-plumbing", profile_id="p-main", environment="sandbox")
    update(app, "b1", "Accepted", T0 + 600, acceptedTimestamp=T0 + 600)
    update(app, "b1", "AppointmentScheduled", T0 + 700, scheduledStartTimestamp=T0 + DAY)
    update(app, "b1", "Invoiced", T0 + 800, invoicedTimestamp=T0 + 800, totalPrice=400.1, skus=[])
    update(app, "b2", "Declined", T0 + 60, declineTimestamp=T0 + 60, declineReason="Declined by CSR")
    update(app, "b3", "Accepted", T0 + 3600, profile="p-south", acceptedTimestamp=T0 + 3600)
    update(app, "b3", "Invoiced", T0 + DAY, profile="p-south", invoicedTimestamp=T0 + DAY, totalPrice=99.95, skus=[])
    update(app, "ghost", "Accepted", T0, booked=False, acceptedTimestamp=T0)


def test_the_report_counts_the_funnel_reasons_times_and_revenue(clean_app):
    scenario(clean_app)
    with clean_app.app_context():
        data = leads_report.report()
    total = data["total"]
    assert total["funnel"] == {"sent": 4, "accepted": 2, "declined": 1, "scheduled": 1, "invoiced": 2}
    assert total["declineReasons"] == {"Declined by CSR": 1}
    assert total["acceptanceSeconds"] == {"count": 2, "median": 2100, "max": 3600}
    assert total["revenueByDay"] == {"2023-11-15": "400.1", "2023-11-16": "99.95"}
    assert total["revenue"] == "500.05"
    by = {(row["accountId"], row["profileId"]): row for row in data["byProfile"]}
    assert list(by) == [("acct-hvac", "p-north"), ("acct-hvac", "p-south"), ("acct-plumbing", "p-main")]
    assert by[("acct-hvac", "p-north")]["funnel"] == {
        "sent": 2,
        "accepted": 1,
        "declined": 1,
        "scheduled": 1,
        "invoiced": 1,
    }
    assert by[("acct-plumbing", "p-main")]["funnel"]["sent"] == 1
    assert by[("acct-plumbing", "p-main")]["revenue"] == "0"


def test_leads_report_json_command(clean_app, runner):
    scenario(clean_app)
    result = runner.invoke(args=["leads", "report", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total"]["funnel"]["invoiced"] == 2
    plain = runner.invoke(args=["leads", "report"])
    assert plain.output.strip() == "sandbox: sent 4, accepted 2, declined 1, scheduled 1, invoiced 2; revenue 500.05"


def test_an_empty_report(clean_app, runner):
    result = runner.invoke(args=["leads", "report", "--json"])
    assert json.loads(result.output) == {
        "environment": "sandbox",
        "total": {
            "funnel": {"sent": 0, "accepted": 0, "declined": 0, "scheduled": 0, "invoiced": 0},
            "declineReasons": {},
            "acceptanceSeconds": {"count": 0, "median": None, "max": None},
            "revenueByDay": {},
            "revenue": "0",
        },
        "byProfile": [],
    }


def test_the_timeline_command(clean_app, runner):
    scenario(clean_app)
    result = runner.invoke(args=["leads", "timeline", "b1", "--json"])
    assert [u["status"] for u in json.loads(result.output)["updates"]] == [
        "Accepted",
        "AppointmentScheduled",
        "Invoiced",
    ]
    assert runner.invoke(args=["leads", "timeline", "b4"]).output.strip() == "sent; no status update yet"
    missing = runner.invoke(args=["leads", "timeline", "nope"])
    assert missing.exit_code == 1 and "nothing is known about partnerBookingId 'nope'" in missing.output
    ghost = json.loads(runner.invoke(args=["leads", "timeline", "ghost", "--json"]).output)
    assert ghost["booking"] is None and len(ghost["updates"]) == 1


def test_the_report_is_of_one_environment(clean_app, runner):
    """Sandbox test leads never count in production's numbers, and the other way round."""
    scenario(clean_app)
    add_booking(clean_app, "live-1", environment="production")
    result = runner.invoke(args=["leads", "report", "--environment", "production", "--json"])
    assert result.exit_code == 0, result.output
    production = json.loads(result.output)
    assert production["environment"] == "production"
    assert production["total"]["funnel"] == {"sent": 1, "accepted": 0, "declined": 0, "scheduled": 0, "invoiced": 0}
    assert production["total"]["revenue"] == "0"
    sandbox = json.loads(runner.invoke(args=["leads", "report", "--environment", "sandbox", "--json"]).output)
    assert sandbox["total"]["funnel"]["sent"] == 4 and sandbox["total"]["revenue"] == "500.05"
    assert runner.invoke(args=["leads", "report", "--environment", "moon"]).exit_code == 2
