"""The token endpoint: one database transaction per request."""

from flask import Blueprint

from oidc_provider.core.extensions import csrf, db
from oidc_provider.oidc.server import authorization_server
from oidc_provider.web import metrics

bp = Blueprint("token", __name__)


@bp.post("/token")
@csrf.exempt
def issue_token():
    try:
        response = authorization_server().create_token_response()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if response.status_code == 200:
        metrics.TOKENS_ISSUED.inc()
    return response
