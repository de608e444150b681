"""The audit log: admin actions, pairings and security events, filtered."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from oidc_provider.web.admin import listings

bp = Blueprint("audit_log", __name__)

FILTERS = ("q", "kind", "actor", "since", "until")


@bp.get("/audit")
def index():
    filters = {name: request.args.get(name, "").strip() for name in FILTERS}
    problems = {
        name: "give a date as YYYY-MM-DD"
        for name in ("since", "until")
        if filters[name] and listings.parse_date(filters[name]) is None
    }
    # The log only grows: counting it on every view would cost more than the page.
    page = listings.page_of(listings.audit_events(**filters), count=False)
    body = render_template(
        "admin/audit.html",
        page=page,
        filters=filters,
        filters_set={k: v for k, v in filters.items() if v},
        kind_options=[("", "Any")] + [(kind, kind) for kind in listings.audit_kinds()],
        problems=problems,
    )
    return body, 422 if problems else 200
