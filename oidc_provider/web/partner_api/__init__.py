"""The partner API, ``/api/v1``: the partner's own systems book leads and follow them.

``/api/v1`` changes only by addition (docs/partner-api.md). Callers are partner API clients
with client credentials tokens (``protection``); every error is problem+json
(``problem_json``); input is refused with the product's one problem shape.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from oidc_provider.core.extensions import csrf
from oidc_provider.core.problems import ProblemError
from oidc_provider.web.partner_api.problem_json import problem_response

bp = Blueprint("partner_api", __name__, url_prefix="/api/v1")


@bp.errorhandler(ProblemError)
def _refused(error: ProblemError):
    return problem_response(422, error.problems)


def init_app(app: Flask) -> None:
    from oidc_provider.web.partner_api import leads  # noqa: F401 - registers its views

    csrf.exempt(bp)  # bearer tokens, not cookies: there is no cross-site request to forge
    app.register_blueprint(bp)
