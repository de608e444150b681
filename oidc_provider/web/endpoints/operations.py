"""For the load balancer and the monitoring: liveness, readiness, metrics.

Keep ``/metrics`` off the public internet (the production guide shows how): it tells how
many pairings there are.
"""

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from oidc_provider.core.extensions import db
from oidc_provider.core.release import VERSION
from oidc_provider.oidc.keys import KeyRingError, key_ring
from oidc_provider.web import metrics

bp = Blueprint("operations", __name__)


@bp.get("/healthz")
def healthz():
    """The process answers, and which release it runs. Touches nothing else, so a slow
    database never gets a healthy worker restarted."""
    return _no_store(jsonify(status="ok", version=VERSION))


@bp.get("/readyz")
def readyz():
    """Whether this instance can serve pairings: the database answers and every
    algorithm has a key that signs now. 503 otherwise, so the load balancer skips it."""
    checks = {"database": "ok", "signing_keys": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
        if not key_ring().has_active_keys():
            checks["signing_keys"] = (
                "no active key for some algorithm: run flask --app oidc_provider keys rotate --activate-now"
            )
    except KeyRingError as error:
        checks["signing_keys"] = str(error)
    except SQLAlchemyError as error:
        db.session.rollback()
        # The class only: the message may name the database host and user.
        checks["database"] = f"unreachable ({type(error).__name__})"
        checks["signing_keys"] = "unknown"
    ready = all(value == "ok" for value in checks.values())
    response = jsonify(status="ok" if ready else "unavailable", checks=checks)
    response.status_code = 200 if ready else 503
    return _no_store(response)


@bp.get("/metrics")
def prometheus_metrics():
    body, content_type = metrics.render()
    return _no_store(Response(body, content_type=content_type))


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
