"""The ``/api/v1`` blueprint that the partner API's view modules register their calls on."""

from __future__ import annotations

from flask import Blueprint

from oidc_provider.core.problems import ProblemError
from oidc_provider.web.partner_api.problem_json import problem_response

bp = Blueprint("partner_api", __name__, url_prefix="/api/v1")


@bp.errorhandler(ProblemError)
def _refused(error: ProblemError):
    return problem_response(422, error.problems)
