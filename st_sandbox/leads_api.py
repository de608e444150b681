"""ServiceTitan's identity server and Leads API, as the partner meets them.

``POST /connect/token`` (client credentials, form-encoded), ``POST
/api/integrations/accounts`` and ``POST /api/integrations/bookings`` (bearer token, JSON),
with the document's validation and error shape (``state.py`` holds the rules). Faults
injected into the state apply here, before or after a request is handled: 5xx answers,
delays, dropped connections, and responses lost after the request was applied.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from st_sandbox.state import Refusal, SandboxState

bp = Blueprint("st_leads_api", __name__)

CONTROL_PREFIX = "/_sandbox"


def state() -> SandboxState:
    """The state this request began with, even if a test swaps in a fresh one while a
    delayed request is still asleep."""
    if "st_state" not in g:
        g.st_state = current_app.extensions["st_sandbox"]["state"]
    return g.st_state


class _Object(dict):
    """A JSON object that remembers repeated keys, as ServiceTitan must to answer 11304
    for an extraDetails key written twice."""

    repeated: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    document = _Object(pairs)
    keys = [key for key, _ in pairs]
    document.repeated = tuple(key for index, key in enumerate(keys) if key in keys[:index])
    return document


@bp.before_app_request
def _inject_fault():
    if request.path.startswith(CONTROL_PREFIX):
        return None
    fault = state().take_fault(request.path)
    if fault is None:
        return None
    if fault.kind == "error":
        return Response("<html><body><h1>Service Unavailable</h1></body></html>", fault.status, mimetype="text/html")
    if fault.kind == "drop":
        _drop_connection()
        return Response(status=500)
    if fault.kind == "delay":
        time.sleep(fault.seconds)
    elif fault.kind == "lose_response":
        g.lose_response = True
    return None


@bp.after_app_request
def _after(response: Response) -> Response:
    if not request.path.startswith(CONTROL_PREFIX):
        state().note_request(request.method, request.path, response.status_code)
    if g.get("lose_response"):
        _drop_connection()
    return response


def _drop_connection() -> None:
    """Close the client's connection with no answer: it sees a dropped connection."""
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


@bp.post("/connect/token")
def token():
    if request.mimetype != "application/x-www-form-urlencoded":
        return _oauth_error("invalid_request", "the body must be application/x-www-form-urlencoded")
    if request.form.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", "grant_type must be client_credentials")
    client_id, client_secret = request.form.get("client_id", ""), request.form.get("client_secret", "")
    if not client_id and request.authorization and request.authorization.type == "basic":
        client_id, client_secret = request.authorization.username or "", request.authorization.password or ""
    answer = state().issue_token(client_id, client_secret)
    if answer is None:
        return _oauth_error("invalid_client", "unknown client or wrong secret")
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/integrations/accounts")
def accounts():
    return _apply(state().apply_account_status)


@bp.post("/api/integrations/bookings")
def bookings():
    return _apply(state().apply_booking)


def _apply(apply) -> Response:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not state().token_valid(value.strip()):
        response = Response(status=401)
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    try:
        if request.mimetype != "application/json":
            raise Refusal(10001, ["Content-Type must be application/json"])
        try:
            body = json.loads(request.get_data(), object_pairs_hook=_pairs)
        except (ValueError, RecursionError):
            raise Refusal(10001, ["The request body is not valid JSON"]) from None
        apply(body)
    except Refusal as refusal:
        response = jsonify(refusal.body())
        response.status_code = refusal.status
        return response
    return jsonify({})


def _oauth_error(error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    return response
