"""Every pairing, OpenID Connect and Custom, filtered and searched, and exported as CSV or
JSON; an admin's decision on an asynchronous one; ending one here (unpair).

The decision is recorded here (``pairing.decide``); telling ServiceTitan is the outbox's
work, hooked into the same call. Unpairing tells ServiceTitan nothing: its document has no
call for it.
"""

from __future__ import annotations

import io
import json

from flask import Blueprint, Response, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from oidc_provider.core import csv_cells
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.models import CUSTOM, OPENID, Account, Client, Pairing
from oidc_provider.pairing import records
from oidc_provider.pairing.lifecycle import PairingConflict, decide, unpair
from oidc_provider.servicetitan.statuses import RECORD_STATUSES
from oidc_provider.web.admin import confirmation, forms, listings
from oidc_provider.web.admin.auth import actor

bp = Blueprint("pairings", __name__)

_FILTERS = ("q", "status", "client_id", "environment", "mechanism")


def _filters() -> dict[str, str]:
    return listings.query_filters(_FILTERS)[0]  # no dates among them


def _back() -> str:
    return url_for(".index", **{k: v for k, v in _filters().items() if v})


@bp.get("/pairings")
def index(error: str | None = None, status: int = 200):
    filters = _filters()
    # A search is not counted: the count would repeat its work for a number nobody needs.
    page = listings.page_of(listings.pairings(**filters), count=not filters["q"])
    clients = db.session.execute(select(Client.client_id, Client.name).order_by(Client.name)).all()
    body = render_template(
        "admin/pairings.html",
        page=page,
        refusals=records.servicetitan_refusals(page.items),
        filters=filters,
        filters_set={k: v for k, v in filters.items() if v},
        status_options=[("", "Any")] + [(s, s) for s in RECORD_STATUSES],
        client_options=[("", "Any")] + [(client_id, name) for client_id, name in clients],
        environment_options=listings.ENVIRONMENT_OPTIONS,
        mechanism_options=[("", "Any"), (OPENID, "OpenID Connect"), (CUSTOM, "Custom")],
        error=error,
    )
    return body, status


CSV_COLUMNS = (
    "id",
    "mechanism",
    "status",
    "requestId",
    "environment",
    "accountId",
    "accountName",
    "profiles",
    "sub",
    "createdAt",
    "updatedAt",
    "decidedAt",
    "decidedBy",
    "unpairedReason",
    "unpairedBy",
    "servicetitanError",
)


def _exported(file_format: str) -> list[dict]:
    """Every pairing the list's filters select, as the partner API shows each; audited,
    since the file leaves the console."""
    filters = _filters()
    # Each pairing's profiles in one more query, not one per account.
    statement = listings.pairings(**filters).options(selectinload(Pairing.account).selectinload(Account.profiles))
    pairings = records.describe_all(list(db.session.scalars(statement)))
    record_event(
        "pairings_exported",
        actor(),
        {"format": file_format, "count": len(pairings), "filters": {k: v for k, v in filters.items() if v}},
    )
    db.session.commit()
    return pairings


def _attachment(body: str, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/pairings.json")
def export_json():
    """The same objects as ``GET /api/v1/pairings`` and ``pairings list --json``."""
    return _attachment(json.dumps({"items": _exported("json")}, indent=2), "application/json", "pairings.json")


@bp.get("/pairings.csv")
def export_csv():
    out = io.StringIO()
    writer = csv_cells.Writer(out)  # neutralises cells a spreadsheet would run as formulas
    writer.writerow(CSV_COLUMNS)
    for pairing in _exported("csv"):
        account, error = pairing["account"] or {}, pairing["servicetitanError"] or {}
        writer.writerow(
            [
                *(pairing[column] for column in CSV_COLUMNS[:5]),
                account.get("id", ""),
                account.get("name", ""),
                "; ".join(f"{profile['id']}: {profile['name']}" for profile in account.get("profiles", [])),
                *(pairing[column] or "" for column in CSV_COLUMNS[8:15]),
                error.get("name", ""),
            ]
        )
    return _attachment(out.getvalue(), "text/csv", "pairings.csv")


@bp.post("/pairings/<int:pairing_id>/decision")
def decision(pairing_id):
    pairing = forms.found(records.find(pairing_id))
    choice = request.form.get("decision")
    if choice not in ("approve", "decline"):
        return index(error="Choose Approve or Decline.", status=422)
    if choice == "decline" and not confirmation.confirmed():
        return confirmation.ask(
            f"Decline the pairing of {pairing.account.name if pairing.account else pairing.account_id}?",
            f"ServiceTitan is told DECLINED for request {pairing.request_id or pairing.id}: "
            f"{pairing.user.email} must start the pairing again from ServiceTitan to pair this account.",
            "Decline pairing",
            _back(),
        )
    try:
        decide(pairing, choice == "approve", actor())
    except PairingConflict as conflict:
        return index(error=str(conflict), status=409)
    return redirect(_back())


@bp.post("/pairings/<int:pairing_id>/unpair")
def unpair_pairing(pairing_id):
    pairing = forms.found(records.find(pairing_id))
    if not confirmation.confirmed():
        name = pairing.account.name if pairing.account else pairing.account_id
        return confirmation.ask(
            f"Unpair {name} ({pairing.environment})?",
            f"The pairing ends here: bookings for {name} are refused until it is paired again from "
            "ServiceTitan. ServiceTitan is not told (it has no call for this): the tenant should also "
            "disconnect the integration in ServiceTitan.",
            "Unpair",
            _back(),
        )
    try:
        unpair(pairing, actor())
    except PairingConflict as conflict:
        return index(error=str(conflict), status=409)
    return redirect(_back())
