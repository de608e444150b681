"""The ServiceTitan sandbox: its "Integrations" page and the APIs the partner calls.

The page is a browser-driven ServiceTitan: "Pair Now" runs OpenID Connect pairing against
the partner's provider (``relying_party.py``: requests + jwcrypto, never the provider's
Authlib), "Pair with Custom pairing" sends the tenant to the partner's pairing URL with a
new requestId, and lead status webhooks go out on demand. ``leads_api.py`` answers the
partner's calls; ``control.py`` lets tests and scripts steer it.

Pending pairings live in this process's memory, keyed by ``state``, never in a
cookie: the callback is a cross-site form POST from the provider, and a
SameSite=Lax cookie would not come back with it.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from st_sandbox import control, leads_api
from st_sandbox.relying_party import RelyingParty, RelyingPartyError
from st_sandbox.state import SandboxState
from st_sandbox.webhooks import EVENTS

SETTINGS: dict[str, str | None] = {
    # "Pair Now" needs these three. The provider's issuer, exactly as its discovery
    # document spells it.
    "ST_SANDBOX_ISSUER": None,
    # The client the partner registered for ServiceTitan.
    "ST_SANDBOX_CLIENT_ID": None,
    # Its secret; at least 32 bytes if the provider signs id_tokens HS256.
    "ST_SANDBOX_CLIENT_SECRET": None,
    # OPTIONAL. Default: this app's /callback on the host the browser used.
    "ST_SANDBOX_REDIRECT_URI": None,
    # OPTIONAL. Space-separated; "openid" is always sent.
    "ST_SANDBOX_SCOPE": "openid",
    # The Leads API credentials this ServiceTitan issues to the partner (defaults: the
    # platform document's sample values, "[Partner]_client" without the brackets).
    "ST_SANDBOX_API_CLIENT_ID": "partner_client",
    "ST_SANDBOX_API_CLIENT_SECRET": "7a2abb98b5117e80500af07788109d1d2031784dbb6cc1833262f0ac2132",
    # Seconds an access token from /connect/token lives ("one hour").
    "ST_SANDBOX_TOKEN_LIFETIME": "3600",
    # OPTIONAL. The partner's Custom pairing URL ("Partner Pairing URL"); the button
    # appends ?requestId=.
    "ST_SANDBOX_CUSTOM_PAIRING_URL": None,
    # OPTIONAL. The partner's webhook URL prefix for this environment, the signing key sent
    # verbatim, and the header that carries it. The sandbox plays ServiceTitan's sandbox
    # environment: give it the prefix and key the partner set up for that environment (the
    # pairing provider takes the sandbox's deliveries under {its prefix}/sandbox).
    "ST_SANDBOX_WEBHOOK_PREFIX": None,
    "ST_SANDBOX_WEBHOOK_KEY": None,
    "ST_SANDBOX_WEBHOOK_HEADER": "X-STLeads-Token",
}
"""Every setting, read from the environment and overridden by ``create_app(config)``.

``config`` may also hold ``ST_SANDBOX_SESSION``: a ``requests.Session`` used for
the back-channel calls (discovery, JWKS, token, account-info), so in-process tests
can route them to a provider that is not listening on a socket; and ``ST_SANDBOX_CLOCK``,
a function returning Unix seconds, that token expiry and webhook timestamps follow.
"""

_RELYING_PARTY = ("ST_SANDBOX_ISSUER", "ST_SANDBOX_CLIENT_ID", "ST_SANDBOX_CLIENT_SECRET")

views = Blueprint("st_sandbox", __name__)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the sandbox app. Without the relying-party settings it still serves the
    Leads API; "Pair Now" then says what is missing."""
    app = Flask(__name__)
    # Show the provider's answers in the order it sent them (Status first): Jinja's
    # tojson sorts keys unless told otherwise.
    app.jinja_env.policies["json.dumps_kwargs"] = {"sort_keys": False}
    app.config.update({name: os.environ.get(name, default) for name, default in SETTINGS.items()})
    app.config.update(config or {})
    state = SandboxState(
        app.config["ST_SANDBOX_API_CLIENT_ID"],
        app.config["ST_SANDBOX_API_CLIENT_SECRET"],
        int(app.config["ST_SANDBOX_TOKEN_LIFETIME"]),
        app.config.get("ST_SANDBOX_CLOCK") or time.time,
    )
    app.extensions["st_sandbox"] = {"pending": {}, "pairings": [], "relying_parties": {}, "state": state}
    app.register_blueprint(views)
    app.register_blueprint(leads_api.bp)
    app.register_blueprint(control.bp)
    return app


def missing_relying_party_settings() -> list[str]:
    return [name for name in _RELYING_PARTY if not current_app.config.get(name)]


def _sandbox() -> dict[str, Any]:
    return current_app.extensions["st_sandbox"]


def _relying_party(redirect_uri: str, send_response_mode: bool) -> RelyingParty:
    """One RelyingParty per redirect URI and mode, so discovery and JWKS stay cached."""
    cache = _sandbox()["relying_parties"]
    key = (redirect_uri, send_response_mode)
    if key not in cache:
        config = current_app.config
        cache[key] = RelyingParty(
            issuer=config["ST_SANDBOX_ISSUER"],
            client_id=config["ST_SANDBOX_CLIENT_ID"],
            client_secret=config["ST_SANDBOX_CLIENT_SECRET"],
            redirect_uri=redirect_uri,
            scope=config["ST_SANDBOX_SCOPE"] or "openid",
            send_response_mode=send_response_mode,
            session=config.get("ST_SANDBOX_SESSION"),
        )
    return cache[key]


def _error(error: str, description: str | None, status: int | None = None, body: Any = None) -> dict[str, Any]:
    """A pairing's error, one shape whether the provider posted it or the sandbox found it."""
    return {"error": error, "error_description": description, "status": status, "body": body}


def _failure(exc: RelyingPartyError) -> dict[str, Any]:
    return _error("relying_party_error", str(exc), exc.status, exc.body)


@views.get("/")
def home(message: str | None = None) -> str:
    state = _sandbox()["state"]
    with state.lock:
        requests_ = list(state.requests.values())
        bookings = list(state.bookings.values())
    return render_template(
        "home.html",
        issuer=current_app.config["ST_SANDBOX_ISSUER"],
        client_id=current_app.config["ST_SANDBOX_CLIENT_ID"],
        missing=missing_relying_party_settings(),
        custom_pairing=bool(current_app.config.get("ST_SANDBOX_CUSTOM_PAIRING_URL")),
        webhooks=bool(current_app.config.get("ST_SANDBOX_WEBHOOK_PREFIX")),
        events=EVENTS,
        pairings=_sandbox()["pairings"],
        requests=requests_,
        bookings=bookings,
        message=message,
    )


@views.post("/custom-pairing")
def custom_pairing() -> Response | tuple[str, int]:
    """ServiceTitan's pairing button for the Custom mechanism: a new request id, and the
    tenant goes to the partner's pairing URL with it."""
    if not current_app.config.get("ST_SANDBOX_CUSTOM_PAIRING_URL"):
        return home("ST_SANDBOX_CUSTOM_PAIRING_URL is not set: the sandbox knows no pairing URL."), 503
    request_ = _sandbox()["state"].create_request("custom")
    return redirect(control.custom_pairing_url(request_.request_id), 303)


@views.post("/lead-status")
def lead_status() -> tuple[str, int]:
    """Send a lead status webhook about one booking, as ServiceTitan does when a CSR acts."""
    try:
        status, body = control.send_lead_status(request.form.get("event", ""), request.form.get("partnerBookingId", ""))
    except (LookupError, ValueError) as error:
        return home(str(error)), 400
    except Exception as error:  # noqa: BLE001 - the partner being down is worth showing, not crashing
        return home(f"the webhook could not be delivered: {type(error).__name__}"), 502
    return home(f"{body['status']} sent for {body['partnerBookingId']}: the partner answered HTTP {status}."), 200


@views.get("/pair")
def pair() -> Response | tuple[str, int]:
    """Start a pairing: remember the state server-side, send the browser to the provider.

    ``?response_mode=omit`` leaves ``response_mode`` out, as the platform
    document's own example URL does.
    """
    redirect_uri = current_app.config["ST_SANDBOX_REDIRECT_URI"] or url_for("st_sandbox.callback", _external=True)
    send_response_mode = request.args.get("response_mode") != "omit"
    state = secrets.token_urlsafe(16)
    missing = missing_relying_party_settings()
    if missing:
        error = _error("not_configured", "missing settings: " + ", ".join(missing))
        return render_template("result.html", pairing={"state": state, "error": error}), 503
    try:
        url = _relying_party(redirect_uri, send_response_mode).authorization_url(state)
    except RelyingPartyError as exc:
        return render_template("result.html", pairing={"state": state, "error": _failure(exc)}), 502
    _sandbox()["pending"][state] = {"redirect_uri": redirect_uri, "send_response_mode": send_response_mode}
    return redirect(url, 302)


@views.post("/callback")
def callback() -> tuple[str, int]:
    """The form_post target. No CSRF token and no cookie: ``state`` is the only binding."""
    state = request.form.get("state", "")
    # pop, not get: a state is good for one answer, so a replayed POST is refused.
    pending = _sandbox()["pending"].pop(state, None)
    if pending is None:
        error = _error("invalid_state", "unknown or missing state")
        return render_template("result.html", pairing={"state": state, "error": error}), 400

    pairing: dict[str, Any] = {
        "state": state,
        "request_id": None,
        "token_response": None,
        "claims": None,
        "account_info": None,
        "error": None,
    }
    status = 200
    if "error" in request.form:
        pairing["error"] = _error(request.form["error"], request.form.get("error_description"))
    elif not request.form.get("code"):
        pairing["error"] = _error("missing_code", "neither code nor error was posted")
        status = 400
    else:
        rp = _relying_party(pending["redirect_uri"], pending["send_response_mode"])
        try:
            pairing.update(rp.complete_pairing(request.form["code"], secrets.token_urlsafe(16)))
        except RelyingPartyError as exc:
            pairing["error"] = _failure(exc)
            status = 502
        else:
            _remember_pairing(pairing)
    _sandbox()["pairings"].append(pairing)
    return render_template("result.html", pairing=pairing), status


def _remember_pairing(pairing: dict[str, Any]) -> None:
    """Record the answer as ServiceTitan would: a COMPLETED account becomes bookable, a
    PROCESSING request waits for the partner's POST /api/integrations/accounts."""
    info = pairing["account_info"]
    body = info["body"] if isinstance(info["body"], dict) else None
    if body is None or (info["source"] == "endpoint" and info["status"] != 200):
        return
    request_id = pairing["request_id"] or secrets.token_urlsafe(16)
    _sandbox()["state"].record_account_info(request_id, body)
