"""The receivers ServiceTitan posts to: ``{WEBHOOK_PREFIX}/accounts``, ``/profiles``,
``/services``, ``/availabilities`` and ``/leads/<event>`` for its production environment,
the same under ``{WEBHOOK_PREFIX}/sandbox/`` for its sandbox.

The key is checked before the body is read, against the keys of the environment whose URL
was called only (as this process read them a moment ago, or read again when it is not among
them): a wrong or missing key leaves nothing but a security event. Until an
environment has a key, every delivery to it is refused, unless WEBHOOK_ALLOW_UNSIGNED says
this is a sandbox.
"""

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from oidc_provider.core.audit import record_repeated_event
from oidc_provider.core.extensions import csrf, db
from oidc_provider.servicetitan import webhooks
from oidc_provider.servicetitan.catalog import webhook_keys
from oidc_provider.servicetitan.environments import PRODUCTION, SANDBOX
from oidc_provider.web.metrics import WEBHOOK_DELIVERIES, WEBHOOKS_REFUSED

#: Seconds over which refused deliveries from one address, for one reason, share an audit row.
REFUSALS_INTERVAL = 60

bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)  # machine-to-machine; the signing key is the proof


@bp.record_once
def _add_rules(state) -> None:
    prefix = state.app.config["WEBHOOK_PREFIX"].rstrip("/")
    for environment in (PRODUCTION, SANDBOX):
        for topic in webhooks.TOPICS:
            state.add_url_rule(
                webhooks.receiver_path(prefix, environment, topic),
                f"{environment}_{topic.replace('/', '_')}",
                receive,
                methods=["POST"],
                defaults={"topic": topic, "environment": environment},
            )


@bp.url_value_preprocessor
def _webhook_body_limit(endpoint, values) -> None:
    # Runs before the application's before_request functions. One byte more than the limit
    # is let through so that a body without Content-Length (chunked), which the stream
    # would otherwise cut silently at the limit, shows that it was longer.
    request.max_content_length = current_app.config["WEBHOOK_MAX_BYTES"] + 1


def receive(topic: str, environment: str):
    refusal = _refuse_unauthenticated(topic, environment)
    if refusal is not None:
        return refusal
    body = request.get_data(cache=False)
    if len(body) > current_app.config["WEBHOOK_MAX_BYTES"]:
        raise RequestEntityTooLarge()  # before anything is stored
    outcome = webhooks.receive(topic, _kept_headers(), body, environment)  # committed before the answer
    WEBHOOK_DELIVERIES.labels(topic, outcome.state).inc()
    answer = {"deliveryId": outcome.delivery_id, "state": outcome.state}
    if outcome.problems:
        answer["problems"] = outcome.problems
    return jsonify(answer), outcome.status


def _refuse_unauthenticated(topic: str, environment: str):
    header = current_app.config["WEBHOOK_HEADER"]
    presented = request.headers.get(header)
    # A key this process saw a moment ago lets the delivery in without a query; every other
    # answer comes from a fresh read, so that a key just added anywhere is accepted.
    if presented is not None and webhook_keys.matches(presented, webhook_keys.recent_values(environment)):
        return None
    keys = webhook_keys.valid_values(environment)
    if not keys:
        if current_app.config["WEBHOOK_ALLOW_UNSIGNED"]:
            return None
        reason = "no signing key is set"
    elif presented is None:
        reason = "missing key"
    elif webhook_keys.matches(presented, keys):
        return None
    else:
        reason = "wrong key"
    WEBHOOKS_REFUSED.labels(topic, reason).inc()
    # One row per client address and reason per interval, however many requests: a flood of
    # wrong keys must not become a flood of rows.
    record_repeated_event(
        "webhook_refused",
        f"{request.remote_addr} {environment} {reason}",
        {"topic": topic, "environment": environment, "reason": reason},
        REFUSALS_INTERVAL,
    )
    db.session.commit()
    return jsonify(error="invalid_token", error_description=f"{header}: {reason}"), 401


def _kept_headers() -> dict:
    """The delivery's headers without the signing key (a secret) and without NUL, which
    PostgreSQL text cannot hold."""
    secret = current_app.config["WEBHOOK_HEADER"].lower()
    return {name: value.replace("\x00", "\ufffd") for name, value in request.headers.items() if name.lower() != secret}
