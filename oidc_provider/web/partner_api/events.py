"""GET /api/v1/events: the feed of what the partner reacts to, resumed from the last id."""

from __future__ import annotations

from flask import Response

from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.servicetitan import events
from oidc_provider.web.partner_api.blueprint import bp
from oidc_provider.web.partner_api.bookings import query_integer
from oidc_provider.web.partner_api.protection import require_api_scope


@bp.get("/events")
@require_api_scope("events:read")
def list_events():
    """``{"items": [...], "next": LAST_ID_OR_NULL}``, oldest first, after ``after``."""
    problems: list[Problem] = []
    after = query_integer("after", None, 0, 2**63 - 1, problems)
    limit = query_integer("limit", events.LIMIT_DEFAULT, 1, events.LIMIT_MAX, problems)
    if problems:
        raise ProblemError(problems)
    return Response(events.page_json(after, limit), mimetype="application/json")
