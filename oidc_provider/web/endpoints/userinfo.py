"""The UserInfo endpoint (OpenID Connect Core 5.3)."""

from flask import Blueprint

from oidc_provider.core.extensions import csrf
from oidc_provider.oidc.server import authorization_server

bp = Blueprint("userinfo", __name__)


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo():
    response = authorization_server().create_endpoint_response("userinfo")
    response.headers["Cache-Control"] = "no-store"
    return response
