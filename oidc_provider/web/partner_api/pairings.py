"""GET /api/v1/pairings and POST /api/v1/pairings/{id}/unpair: every pairing, OpenID Connect
and Custom, in the representation ``flask pairings list --json`` shows (``pairing.records``)."""

from __future__ import annotations

from flask import jsonify, request

from oidc_provider.core.models import CUSTOM, OPENID
from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.pairing import records
from oidc_provider.pairing.lifecycle import PairingConflict, unpair
from oidc_provider.servicetitan.statuses import RECORD_STATUSES
from oidc_provider.web.partner_api.blueprint import bp
from oidc_provider.web.partner_api.bookings import LIMIT_DEFAULT, LIMIT_MAX, query_integer
from oidc_provider.web.partner_api.leads import environment_filter
from oidc_provider.web.partner_api.problem_json import problem_response
from oidc_provider.web.partner_api.protection import current_caller, require_api_scope

MECHANISMS = (OPENID, CUSTOM)


@bp.get("/pairings")
@require_api_scope("pairings:read")
def list_pairings():
    """Newest first, ``{"items": [...], "next": CURSOR_OR_NULL}``."""
    problems = []
    status = request.args.get("status")
    if status is not None and status not in RECORD_STATUSES:
        problems.append(Problem("status", f"choose one of {', '.join(RECORD_STATUSES)}"))
    mechanism = request.args.get("mechanism")
    if mechanism is not None and mechanism not in MECHANISMS:
        problems.append(Problem("mechanism", f"choose {' or '.join(MECHANISMS)}"))
    limit = query_integer("limit", LIMIT_DEFAULT, 1, LIMIT_MAX, problems)
    cursor = query_integer("cursor", None, 1, 2**31 - 1, problems)
    environment = environment_filter()
    if problems:
        raise ProblemError(problems)
    statement = records.query(status, request.args.get("accountId"), environment, mechanism)
    rows, following = records.page(statement, limit, before_id=cursor)
    return jsonify({"items": records.describe_all(rows), "next": str(following) if following else None})


@bp.post("/pairings/<int:pairing_id>/unpair")
@require_api_scope("pairings:write")
def unpair_pairing(pairing_id: int):
    """End a COMPLETED pairing here; ServiceTitan is not told (its document has no call for
    it). Bookings for the account are refused until it is paired again."""
    pairing = records.find(pairing_id)
    if pairing is None:
        return problem_response(404, [Problem("id", f"no pairing {pairing_id}")])
    try:
        unpair(pairing, current_caller().actor)
    except PairingConflict as conflict:
        return problem_response(409, [Problem("status", str(conflict))])
    [described] = records.describe_all([pairing])
    return jsonify(described)
