"""The audit log: admin actions, pairings and security events, filtered."""

from __future__ import annotations

from flask import Blueprint, render_template

from oidc_provider.web.admin import listings

bp = Blueprint("audit_log", __name__)

FILTERS = ("q", "kind", "actor", "since", "until")


@bp.get("/audit")
def index():
    filters, problems = listings.query_filters(FILTERS)
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
