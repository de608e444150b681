"""The sandbox's "Integrations" page: a browser-driven ServiceTitan relying party.

Pending pairings live in this process's memory, keyed by ``state``, never in a
cookie: the callback is a cross-site form POST from the provider, and a
SameSite=Lax cookie would not come back with it.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from st_sandbox.relying_party import RelyingParty, RelyingPartyError

SETTINGS: dict[str, str | None] = {
    # REQUIRED. The provider's issuer, exactly as its discovery document spells it.
    "ST_SANDBOX_ISSUER": None,
    # REQUIRED. The client the partner registered for ServiceTitan.
    "ST_SANDBOX_CLIENT_ID": None,
    # REQUIRED. Its secret; at least 32 bytes if the provider signs id_tokens HS256.
    "ST_SANDBOX_CLIENT_SECRET": None,
    # OPTIONAL. Default: this app's /callback on the host the browser used.
    "ST_SANDBOX_REDIRECT_URI": None,
    # OPTIONAL. Space-separated; "openid" is always sent.
    "ST_SANDBOX_SCOPE": "openid",
}
"""Every setting, read from the environment and overridden by ``create_app(config)``.

``config`` may also hold ``ST_SANDBOX_SESSION``: a ``requests.Session`` used for
the back-channel calls (discovery, JWKS, token, account-info), so in-process tests
can route them to a provider that is not listening on a socket.
"""

_REQUIRED = ("ST_SANDBOX_ISSUER", "ST_SANDBOX_CLIENT_ID", "ST_SANDBOX_CLIENT_SECRET")

views = Blueprint("st_sandbox", __name__)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the sandbox app; raises ValueError when a required setting is missing."""
    app = Flask(__name__)
    # Show the provider's answers in the order it sent them (Status first): Jinja's
    # tojson sorts keys unless told otherwise.
    app.jinja_env.policies["json.dumps_kwargs"] = {"sort_keys": False}
    app.config.update({name: os.environ.get(name, default) for name, default in SETTINGS.items()})
    app.config.update(config or {})
    missing = [name for name in _REQUIRED if not app.config.get(name)]
    if missing:
        raise ValueError("missing settings: " + ", ".join(missing))
    app.extensions["st_sandbox"] = {"pending": {}, "pairings": [], "relying_parties": {}}
    app.register_blueprint(views)
    return app


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
def home() -> str:
    return render_template(
        "home.html",
        issuer=current_app.config["ST_SANDBOX_ISSUER"],
        client_id=current_app.config["ST_SANDBOX_CLIENT_ID"],
        pairings=_sandbox()["pairings"],
    )


@views.get("/pair")
def pair() -> Response | tuple[str, int]:
    """Start a pairing: remember the state server-side, send the browser to the provider.

    ``?response_mode=omit`` leaves ``response_mode`` out, as the platform
    document's own example URL does.
    """
    redirect_uri = current_app.config["ST_SANDBOX_REDIRECT_URI"] or url_for(
        "st_sandbox.callback", _external=True
    )
    send_response_mode = request.args.get("response_mode") != "omit"
    state = secrets.token_urlsafe(16)
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
    _sandbox()["pairings"].append(pairing)
    return render_template("result.html", pairing=pairing), status
