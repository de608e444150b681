"""The UserInfo endpoint (OpenID Connect Core 5.3)."""

from flask import Blueprint

from ..extensions import csrf
from ..server import authorization_server

bp = Blueprint("userinfo", __name__)


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo():
    response = authorization_server().create_endpoint_response("userinfo")
    response.headers["Cache-Control"] = "no-store"
    return response
