"""GET /api/v1/leads/report and GET /api/v1/availability: the numbers the CLI shows, of one
ServiceTitan environment (``?environment=``, by default the product's default one)."""

from __future__ import annotations

from flask import jsonify, request

from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.servicetitan import leads_report, webhooks
from oidc_provider.servicetitan.environments import ENVIRONMENTS
from oidc_provider.web.partner_api.blueprint import bp
from oidc_provider.web.partner_api.protection import require_api_scope


def environment_filter() -> str | None:
    """The ``environment`` query parameter: sandbox, production, or absent for the default
    environment."""
    environment = request.args.get("environment")
    if environment is not None and environment not in ENVIRONMENTS:
        raise ProblemError([Problem("environment", f"choose {' or '.join(ENVIRONMENTS)}")])
    return environment


@bp.get("/leads/report")
@require_api_scope("leads:read")
def leads_report_view():
    """The same report as ``flask leads report --json``."""
    return jsonify(leads_report.report(environment_filter()))


@bp.get("/availability")
@require_api_scope("leads:read")
def availability_view():
    """The same list as ``flask availability show --json``."""
    return jsonify({"items": webhooks.latest_availability(environment_filter()), "next": None})
