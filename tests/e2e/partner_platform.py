"""The partner's booking platform, as a separate program that knows the product only by its
HTTP API (docs/partner-api.md): plain ``requests``, nothing imported from the product.

    python partner_platform.py book BOOKING.json      # token, post, poll until settled
    python partner_platform.py timeline PARTNER_BOOKING_ID STATUS   # poll until STATUS is on it
    python partner_platform.py events           # the whole event feed, page after page

Reads ISSUER, CLIENT_ID and CLIENT_SECRET from the environment; prints the booking as JSON.
"""

import json
import os
import sys
import time

import requests

ISSUER = os.environ["ISSUER"]
PENDING = ("queued", "sending", "outcome_unknown")
DEADLINE = 30  # seconds


def token(session):
    answer = session.post(
        f"{ISSUER}/token",
        data={"grant_type": "client_credentials", "scope": "bookings:write bookings:read events:read"},
        auth=(os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]),
        timeout=10,
    )
    answer.raise_for_status()
    session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"


def poll(session, location, done):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        booking = session.get(ISSUER + location, timeout=10).json()
        if done(booking):
            return booking
        time.sleep(0.2)
    raise SystemExit(f"gave up waiting: {booking}")


def feed(session):
    """Every event, resuming after the last id seen, until a page comes back empty."""
    events, after = [], None
    while True:
        page = session.get(
            f"{ISSUER}/api/v1/events", params={"limit": 2, **({"after": after} if after else {})}, timeout=10
        ).json()
        if not page["items"]:
            return {"items": events}
        events += page["items"]
        after = page["items"][-1]["id"]


def main(command, *arguments):
    session = requests.Session()
    token(session)
    if command == "events":
        print(json.dumps(feed(session)))
        return
    if command == "book":
        with open(arguments[0]) as file:
            answer = session.post(f"{ISSUER}/api/v1/bookings", json=json.load(file), timeout=10)
        if answer.status_code != 202:
            raise SystemExit(f"refused: {answer.status_code} {answer.text}")
        booking = poll(session, answer.headers["Location"], lambda b: b["state"] not in PENDING)
    else:
        partner_booking_id, status = arguments
        booking = poll(
            session,
            f"/api/v1/bookings/{partner_booking_id}",
            lambda b: status in [update["status"] for update in b["timeline"]],
        )
    print(json.dumps(booking))


if __name__ == "__main__":
    main(*sys.argv[1:])
