"""The partner API, ``/api/v1``: the partner's own systems book leads, follow them and see
every pairing.

``/api/v1`` changes only by addition (docs/partner-api.md). Callers are partner API clients
with client credentials tokens (``protection``); every error is problem+json
(``problem_json``); input is refused with the product's one problem shape.
"""

from __future__ import annotations

from flask import Flask

from oidc_provider.core.extensions import csrf
from oidc_provider.web.partner_api import bookings, leads, pairings
from oidc_provider.web.partner_api.blueprint import bp

#: The modules whose views are registered on ``bp``.
VIEW_MODULES = (bookings, leads, pairings)


def init_app(app: Flask) -> None:
    csrf.exempt(bp)  # bearer tokens, not cookies: there is no cross-site request to forge
    app.register_blueprint(bp)
