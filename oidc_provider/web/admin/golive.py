"""The go-live checklist, one page per ServiceTitan environment (``oidc.preflight``)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from oidc_provider.oidc import preflight
from oidc_provider.servicetitan.environments import ENVIRONMENTS

bp = Blueprint("golive", __name__)


@bp.get("/go-live/<environment>")
def index(environment):
    if environment not in ENVIRONMENTS:
        abort(404)
    checks = preflight.run(environment)
    return render_template(
        "admin/golive.html",
        environment=environment,
        environments=ENVIRONMENTS,
        checks=checks,
        ready=all(check.ok for check in checks),
    )
