"""The authorization endpoint and the consent page's answer."""

from flask import Blueprint, request

from .. import interaction

bp = Blueprint("authorize", __name__)


@bp.route("/authorize", methods=["GET", "POST"])
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
