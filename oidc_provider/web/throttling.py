"""Sign-in throttling: failed sign-ins counted per email and client address, together.

A guesser gets ``SIGN_IN_LIMIT`` wrong passwords for one email from one address, and
``SIGN_IN_ADDRESS_LIMIT`` for all emails together from one address (credential stuffing
tries many emails, once each); then that address is answered 429 with ``Retry-After`` until
the oldest failure leaves the window. There is no per-user lockout: a stranger who fails on
purpose throttles only their own address, never the tenant signing in from elsewhere. An
unknown email is counted exactly like a known one, so the answer never tells them apart.

The counts live in Flask-Limiter's storage, ``RATELIMIT_STORAGE_URI``: in memory for one
development process, Redis (``redis://127.0.0.1:6379``) when several instances must share
them. Keys are keyed hashes, so the store holds no email address. The client address is
``request.remote_addr``: behind a proxy, the proxy count must be set so that it is the
tenant's address and not the proxy's. When the store cannot be reached, sign-in answers 503
rather than letting guesses through uncounted.

Failed sign-ins and throttled attempts are security events in the audit log (never with
the password; the email only when it looks like one, since people type passwords into the
email field).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from functools import wraps

from flask import Flask, current_app, make_response, render_template, request
from flask_limiter import RequestLimit
from limits.errors import StorageError

from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db, limiter
from oidc_provider.directory.store import EMAIL_PATTERN, normalize_email

#: The status with which a sign-in view answers wrong credentials: what the throttle counts.
FAILED_SIGN_IN_STATUS = 401


def throttle_sign_in(realm: str, email_field: str = "email"):
    """Decorate a sign-in view so that its failed POSTs are counted, audited and throttled.

    ``realm`` names whose sign-in it is (``"tenant"``, ``"admin"``): each realm counts on
    its own, and the audit events name it. The view must answer wrong credentials with
    status 401 (``FAILED_SIGN_IN_STATUS``) and anything else with another status; it need
    not count or log anything itself. Put it under the route decorator::

        @bp.route("/admin/login", methods=["GET", "POST"])
        @throttle_sign_in("admin")
        def sign_in():
            admin = check_credentials(request.form["email"], request.form["password"])
            if admin is None:
                return render_template("admin/login.html", error=...), 401
            ...

    A throttled POST never reaches the view (the password is not even checked) and gets a
    429 page with ``Retry-After``; GETs are never throttled.
    """

    def decorate(view):
        @wraps(view)
        def audited(*args, **kwargs):
            response = make_response(view(*args, **kwargs))
            if request.method == "POST" and response.status_code == FAILED_SIGN_IN_STATUS:
                record_event("sign_in_failed", detail={"realm": realm, "email": _email_for_audit(email_field)})
                db.session.commit()
            return response

        limits = (
            ("SIGN_IN_LIMIT", lambda: _email_and_address_key(email_field)),
            ("SIGN_IN_ADDRESS_LIMIT", _address_key),
        )
        throttled = audited
        for setting, key in limits:
            throttled = limiter.limit(
                lambda setting=setting: current_app.config[setting],
                key_func=key,
                scope=f"sign-in-{realm}-{setting.lower()}",
                methods=["POST"],
                deduct_when=lambda response: response.status_code == FAILED_SIGN_IN_STATUS,
                on_breach=lambda breached: _throttled_page(realm, email_field, breached),
            )(throttled)
        _THROTTLED_VIEWS.add(throttled)
        return throttled

    return decorate


#: The views ``throttle_sign_in`` wrapped, as Flask registers them.
_THROTTLED_VIEWS: set = set()


def _check_throttled_views() -> None:
    """Flask-Limiter's check, for the throttled views' requests only: on every other request
    it would resolve limits (about 0.2 ms of CPU: a seventh of a token request's budget) to
    find none."""
    if current_app.view_functions.get(request.endpoint or "") in _THROTTLED_VIEWS:
        limiter._check_request_limit()


def _email_and_address_key(email_field: str) -> str:
    return _keyed_hash(f"{normalize_email(request.form.get(email_field, ''))}\n{request.remote_addr}")


def _address_key() -> str:
    return _keyed_hash(str(request.remote_addr))


def _keyed_hash(value: str) -> str:
    """Stands for ``value`` in the store without revealing it: emails are personal data."""
    return hmac.new(current_app.config["SECRET_KEY"].encode(), value.encode(), hashlib.sha256).hexdigest()


def _email_for_audit(email_field: str) -> str:
    email = normalize_email(request.form.get(email_field, ""))
    return email if len(email) <= 254 and EMAIL_PATTERN.fullmatch(email) else ""


def _throttled_page(realm: str, email_field: str, breached: RequestLimit):
    record_event(
        "sign_in_throttled",
        detail={"realm": realm, "email": _email_for_audit(email_field), "limit": str(breached.limit)},
    )
    db.session.commit()
    # The window's own reset time: RequestLimit.reset_at rounds up a second past it.
    # Clamped to the window: the store's clock (Redis) may run a fraction ahead of ours.
    wait = min(max(1, math.ceil(breached.window[0] - time.time())), breached.limit.get_expiry())
    body = render_template(
        "error.html",
        error="too_many_attempts",
        description=f"Too many failed sign-ins. Wait {_in_words(wait)} and try again.",
    )
    response = make_response(body, 429)
    response.headers["Retry-After"] = str(wait)
    response.headers["Cache-Control"] = "no-store"
    return response


def _in_words(seconds: int) -> str:
    minutes = round(seconds / 60)
    return f"{seconds} seconds" if seconds < 90 else f"{minutes} minutes"


def _store_unavailable(error: StorageError):
    current_app.logger.error("sign-in throttling store unreachable: %s", type(error.storage_error).__name__)
    body = render_template(
        "error.html",
        error="temporarily_unavailable",
        description="Signing in is unavailable for a moment. Try again in a minute.",
    )
    return body, 503, {"Retry-After": "30", "Cache-Control": "no-store"}


def init_app(app: Flask) -> None:
    limiter.init_app(app)
    hooks = app.before_request_funcs[None]
    hooks[hooks.index(limiter._check_request_limit)] = _check_throttled_views
    app.register_error_handler(StorageError, _store_unavailable)
