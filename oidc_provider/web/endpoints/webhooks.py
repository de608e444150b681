"""The receivers ServiceTitan posts to: ``{WEBHOOK_PREFIX}/accounts``, ``/profiles``,
``/services``, ``/availabilities`` and ``/leads/<event>``.

The key is checked before the body is read: a wrong or missing key leaves nothing but a
security event. Until a key is set every delivery is refused, unless
WEBHOOK_ALLOW_UNSIGNED says this is a sandbox.
"""

from flask import Blueprint, current_app, jsonify, request

from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import csrf, db
from oidc_provider.servicetitan import webhooks
from oidc_provider.servicetitan.catalog import webhook_keys
from oidc_provider.web.metrics import WEBHOOK_DELIVERIES

bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)  # machine-to-machine; the signing key is the proof


@bp.record_once
def _add_rules(state) -> None:
    prefix = state.app.config["WEBHOOK_PREFIX"].rstrip("/")
    for topic in webhooks.TOPICS:
        state.add_url_rule(
            f"{prefix}/{topic}", topic.replace("/", "_"), receive, methods=["POST"], defaults={"topic": topic}
        )


@bp.url_value_preprocessor
def _webhook_body_limit(endpoint, values) -> None:
    # Runs before the application's before_request functions, which may read a form body.
    request.max_content_length = current_app.config["WEBHOOK_MAX_BYTES"]


def receive(topic: str):
    refusal = _refuse_unauthenticated(topic)
    if refusal is not None:
        return refusal
    body = request.get_data(cache=False)  # 413 past WEBHOOK_MAX_BYTES, before anything is stored
    outcome = webhooks.receive(topic, _kept_headers(), body)
    WEBHOOK_DELIVERIES.labels(topic, outcome.delivery.state).inc()
    answer = {"deliveryId": outcome.delivery.id, "state": outcome.delivery.state}
    if outcome.problems:
        answer["problems"] = outcome.problems
    return jsonify(answer), outcome.status


def _refuse_unauthenticated(topic: str):
    header = current_app.config["WEBHOOK_HEADER"]
    presented = request.headers.get(header)
    keys = webhook_keys.valid_keys()
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
    record_event("webhook_refused", detail={"topic": topic, "reason": reason})
    db.session.commit()
    return jsonify(error="invalid_token", error_description=f"{header}: {reason}"), 401


def _kept_headers() -> dict:
    """The delivery's headers without the signing key (a secret) and without NUL, which
    PostgreSQL text cannot hold."""
    secret = current_app.config["WEBHOOK_HEADER"].lower()
    return {name: value.replace("\x00", "\ufffd") for name, value in request.headers.items() if name.lower() != secret}
