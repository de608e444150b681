"""The Custom pairing page: ServiceTitan's "Partner Pairing URL", opened with ?requestId=.

Its path is the CUSTOM_PAIRING_PATH setting, so the rule is added when the blueprint is
registered. The same URL reports PROCESSING as soon as the signed-in tenant opens it, asks
for the account, then shows what ServiceTitan answered;
while that is not final, a ``Refresh`` header reloads it (no script: the CSP allows none
inline, and a page this small needs none).
"""

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from oidc_provider.directory import account_directory
from oidc_provider.oidc.interaction import suggested_account_id, tenant_user
from oidc_provider.pairing import custom as custom_pairing
from oidc_provider.pairing import records
from oidc_provider.pairing.lifecycle import acceptable_choice
from oidc_provider.servicetitan.statuses import PROCESSING

bp = Blueprint("custom_pairing", __name__)


@bp.record_once
def _add_rules(state) -> None:
    state.add_url_rule(state.app.config["CUSTOM_PAIRING_PATH"], "page", page, methods=["GET", "POST"])


def page():
    try:
        request_id = custom_pairing.check_request_id(request.values.get("requestId"))
    except custom_pairing.CustomPairingError as error:
        return _error_page(str(error), 400)
    user = tenant_user()
    if user is None:
        return redirect(url_for("login.sign_in", next=url_for("custom_pairing.page", requestId=request_id)))
    try:
        pairing = custom_pairing.open_pairing(request_id, user)
    except custom_pairing.CustomPairingError as error:
        return _error_page(str(error), 409)
    progress = custom_pairing.progress(pairing)
    if pairing.status != PROCESSING or progress.final:
        # Answered already, or ServiceTitan refused the request id: what happened, not the choice.
        return _status_page(pairing, progress)
    accounts = account_directory().pairable_accounts(user)
    if request.method == "GET":
        return _choice_page(request_id, user, accounts)
    account = None
    if request.form.get("decision") == "allow":
        account = next((a for a in accounts if a.id == request.form.get("account_id")), None)
        if not acceptable_choice(accounts, account):
            return _choice_page(request_id, user, accounts, error="Choose one of your accounts.", status=400)
    try:
        custom_pairing.answer(pairing, user, account)
    except custom_pairing.CustomPairingError as error:
        return _error_page(str(error), 409)
    return redirect(url_for("custom_pairing.page", requestId=request_id), 303)


def _choice_page(request_id, user, accounts, error=None, status=200):
    body = render_template(
        "custom_pairing.html",
        request_id=request_id,
        user=user,
        accounts=accounts,
        preselected=suggested_account_id(accounts),
        error=error,
    )
    return body, status, {"Cache-Control": "no-store"}


def _status_page(pairing, progress):
    headers = {"Cache-Control": "no-store"}
    if not progress.final:
        headers["Refresh"] = str(current_app.config["CUSTOM_PAIRING_REFRESH"])
    advice = records.ADVICE.get((progress.error or {}).get("name", ""))
    body = render_template("custom_pairing_status.html", pairing=pairing, progress=progress, advice=advice)
    return body, 200, headers


def _error_page(description: str, status: int):
    body = render_template("error.html", error="pairing_link", description=description)
    return body, status, {"Cache-Control": "no-store"}
