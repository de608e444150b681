"""``/_sandbox/...``: steer the sandbox from a test or a script. No authentication: the
sandbox runs on loopback for one developer or one test run, never facing a network.

- ``GET /_sandbox/state``: requests, paired accounts, bookings, and every applied request.
- ``POST /_sandbox/faults`` ``{"path": "/api/integrations/bookings", "kind": "error" |
  "delay" | "drop" | "lose_response", "status": 503, "seconds": 2, "times": 1}``
  (``"times": null`` lasts until ``DELETE /_sandbox/faults``).
- ``POST /_sandbox/requests`` ``{"mechanism": "custom"}``: a new pairing request id.
- ``POST /_sandbox/accounts`` ``{"id": ..., "name": ..., "profiles": [...]}``: an account
  paired at once, as if a pairing had completed (for bookings).
- ``POST /_sandbox/accounts/<id>/disable`` (and ``/enable``): IntegrationDisabled.
- ``POST /_sandbox/webhooks/leads/<event>`` ``{"partnerBookingId": ..., ...}``: send a
  lead status webhook now.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from st_sandbox import webhooks
from st_sandbox.leads_api import CONTROL_PREFIX, state
from st_sandbox.state import Fault

bp = Blueprint("st_control", __name__, url_prefix=CONTROL_PREFIX)


@bp.get("/state")
def show_state():
    return jsonify(state().snapshot())


@bp.post("/faults")
def add_fault():
    body = request.get_json(silent=True) or {}
    try:
        fault = state().inject(
            str(body.get("path", "/")),
            str(body.get("kind")),
            int(body.get("status", 503)),
            float(body.get("seconds", 0)),
            body.get("times", 1),
        )
    except (TypeError, ValueError) as error:
        return jsonify(error=str(error), kinds=Fault.KINDS), 400
    return jsonify(vars(fault)), 201


@bp.delete("/faults")
def clear_faults():
    state().clear_faults()
    return "", 204


@bp.post("/requests")
def create_request():
    body = request.get_json(silent=True) or {}
    created = state().create_request(str(body.get("mechanism", "custom")), body.get("requestId"))
    return jsonify(requestId=created.request_id, pairingUrl=custom_pairing_url(created.request_id)), 201


@bp.post("/accounts")
def pair_account():
    body = request.get_json(silent=True)
    profiles = body.get("profiles", []) if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("id"), str)
        or not isinstance(profiles, list)
        or not all(isinstance(profile, dict) and isinstance(profile.get("id"), str) for profile in profiles)
    ):
        return jsonify(error='an account is {"id": ..., "name": ..., "profiles": [{"id": ..., "name": ...}]}'), 400
    state().pair_account(body)
    return "", 204


@bp.post("/accounts/<account_id>/<any(disable, enable):action>")
def set_account(account_id: str, action: str):
    state().disable_account(account_id, action == "disable")
    return "", 204


@bp.post("/webhooks/leads/<event>")
def send_webhook(event: str):
    body = request.get_json(silent=True) or {}
    try:
        status, sent = send_lead_status(event, str(body.pop("partnerBookingId", "")), **body)
    except (LookupError, ValueError) as error:
        return jsonify(error=str(error)), 400
    return jsonify(status=status, body=sent)


def custom_pairing_url(request_id: str) -> str | None:
    """Where ServiceTitan sends the tenant for Custom pairing, with the request id appended."""
    base = current_app.config.get("ST_SANDBOX_CUSTOM_PAIRING_URL")
    if not base:
        return None
    return f"{base}{'&' if '?' in base else '?'}requestId={request_id}"


def send_lead_status(event: str, partner_booking_id: str, **overrides) -> tuple[int, dict]:
    """Send ``event`` about a booking the sandbox received; returns the receiver's HTTP
    status and the body sent. Raises LookupError for an unknown booking or a sandbox
    without ST_SANDBOX_WEBHOOK_PREFIX."""
    config = current_app.config
    prefix = config.get("ST_SANDBOX_WEBHOOK_PREFIX")
    if not prefix:
        raise LookupError("ST_SANDBOX_WEBHOOK_PREFIX is not set: the sandbox knows no webhook URL")
    sandbox = state()
    with sandbox.lock:
        booking = sandbox.bookings.get(partner_booking_id)
        delivered_at = sandbox.booking_received_at.get(partner_booking_id)
    if booking is None and not {"accountId", "profileId"} <= set(overrides):
        raise LookupError(f"the sandbox received no booking {partner_booking_id!r}")
    now = int(sandbox.clock())
    body = webhooks.lead_status_body(
        event, booking or {"partnerBookingId": partner_booking_id}, int(delivered_at or now), now, **overrides
    )
    response = webhooks.send(
        prefix,
        event,
        body,
        config.get("ST_SANDBOX_WEBHOOK_KEY"),
        config.get("ST_SANDBOX_WEBHOOK_HEADER") or "X-STLeads-Token",
    )
    with sandbox.lock:
        sandbox.webhooks_sent.append({"event": event, "body": body, "status": response.status_code})
    return response.status_code, body
