"""Lead status webhooks, sent on demand the way ServiceTitan sends them ("Automated Lead
Status Updates"): ``POST {prefix}/leads/{event}`` with the shared signing key verbatim in
the ``X-STLeads-Token`` header (its name is configurable on ServiceTitan's side too).

Bodies follow the document's examples, not its table (the table calls decimals and lists
"integer"), with a fresh ``statusUpdateId`` each time.
"""

from __future__ import annotations

import uuid
from typing import Any

import requests

EVENTS = {
    "accepted": "Accepted",
    "declined": "Declined",
    "appointment_scheduled": "AppointmentScheduled",
    "invoiced": "Invoiced",
}


def lead_status_body(event: str, booking: dict, delivered_at: int, now: int, **overrides: Any) -> dict:
    """The body for ``event`` about ``booking`` (as the partner sent it)."""
    if event not in EVENTS:
        raise ValueError(f"event must be one of {', '.join(EVENTS)}")
    slot = booking.get("slot") or {}
    event_data: dict[str, Any] = {"leadDeliveredTimestamp": delivered_at}
    if event == "accepted":
        event_data = {"acceptedTimestamp": now, **event_data}
    elif event == "declined":
        event_data = {"declineTimestamp": now, "declineReason": "Declined by CSR", **event_data}
    elif event == "appointment_scheduled":
        event_data = {"scheduledStartTimestamp": slot.get("startSec") or now + 86400, **event_data}
    else:
        event_data = {
            "invoicedTimestamp": now,
            **event_data,
            "totalPrice": 400.0,
            "skus": [
                {"name": "some-service", "code": "some-service-code", "price": 20.0, "quantity": 2.0},
                {"name": "some-material", "code": "some-material-code", "price": 10.0, "quantity": 3.0},
                {
                    "name": "some-equipment",
                    "code": "some-equipment-code",
                    "price": 110.0,
                    "quantity": 3.0,
                    "serialNumber": "abcdefg",
                    "model": "cool-equipment",
                },
            ],
        }
    body = {
        "partnerBookingId": booking.get("partnerBookingId"),
        "accountId": slot.get("accountId"),
        "profileId": slot.get("profileId"),
        "statusUpdateId": str(uuid.uuid4()),
        "status": EVENTS[event],
        "timestamp": now,
        "eventData": event_data,
    }
    body.update(overrides)
    return body


def send(
    prefix: str,
    event: str,
    body: dict,
    key: str | None,
    header: str = "X-STLeads-Token",
    timeout: float = 10,
    session: requests.Session | None = None,
) -> requests.Response:
    """POST one webhook; the receiver's answer is returned, not judged (ServiceTitan does
    not retry failed deliveries yet)."""
    headers = {header: key} if key else {}
    return (session or requests).post(
        f"{prefix.rstrip('/')}/leads/{event}", json=body, headers=headers, timeout=timeout
    )
