"""The authorization endpoint and the consent page's answer."""

from flask import Blueprint, request

from oidc_provider.core.extensions import csrf
from oidc_provider.oidc import interaction

bp = Blueprint("authorize", __name__)


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt  # the relying party's page posts here (OpenID Connect Core 3.1.2.1); its state guards it
def authorize():
    return interaction.start(request)


@bp.get("/authorize/resume")
def resume():
    return interaction.resume(request.args.get("pending"))


@bp.post("/authorize/decision")
def decision():
    return interaction.decide(
        request.form.get("pending", ""),
        allowed=request.form.get("decision") == "allow",
        account_id=request.form.get("account_id"),
    )
