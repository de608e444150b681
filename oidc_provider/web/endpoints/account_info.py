"""ServiceTitan's account-info call: which account this access token paired."""

from flask import Blueprint, jsonify, request

from oidc_provider.core.extensions import db
from oidc_provider.oidc.claims import account_info
from oidc_provider.oidc.server import bearer_protector
from oidc_provider.pairing.lifecycle import PairingConflict, pairing_for_request
from oidc_provider.servicetitan.statuses import REQUEST_ID_MAX

bp = Blueprint("account_info", __name__)


@bp.get("/account-info")
def get_account_info():
    token = bearer_protector().acquire_token()
    request_id = request.args.get("request_id", "")
    # Request ids are ServiceTitan's: refuse only what cannot be one.
    if not request_id or len(request_id) > REQUEST_ID_MAX:
        return _invalid_request(f"'request_id' is required, at most {REQUEST_ID_MAX} characters.")
    try:
        pairing = pairing_for_request(token, request_id)
    except PairingConflict as conflict:
        return _invalid_request(str(conflict))
    body = {"RequestId": pairing.request_id, **account_info(pairing.account, pairing.status)}
    body = {"Status": body.pop("Status"), **body}
    # Committed once the answer is built: a commit expires the loaded rows, and reading
    # them afterwards would cost three more queries.
    db.session.commit()
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def _invalid_request(description: str):
    response = jsonify(error="invalid_request", error_description=description)
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    return response
