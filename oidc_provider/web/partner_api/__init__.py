"""The partner API, ``/api/v1``: the partner's own systems book leads, follow them and see
every pairing.

``/api/v1`` changes only by addition (docs/partner-api.md). Callers are partner API clients
with client credentials tokens (``protection``); every error is problem+json
(``problem_json``); input is refused with the product's one problem shape.
"""

from __future__ import annotations

from flask import Flask, Request

from oidc_provider.core.extensions import csrf
from oidc_provider.web.partner_api import bookings, events, leads, pairings
from oidc_provider.web.partner_api.blueprint import bp
from oidc_provider.web.partner_api.problem_json import PATH_PREFIX
from oidc_provider.web.sessions import CookieSessions

#: The modules whose views are registered on ``bp``.
VIEW_MODULES = (bookings, events, leads, pairings)


class _NoSessionForTheApi(CookieSessions):
    """The partner API's callers carry a bearer token, never a session: its requests get
    the null session (nothing read from a cookie, nothing set). Every other request without
    a cookie, a webhook's too, is spared the cookie's signing serializer (``CookieSessions``)."""

    def open_session(self, app: Flask, request: Request):
        if request.path.startswith(PATH_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    csrf.exempt(bp)  # bearer tokens, not cookies: there is no cross-site request to forge
    app.session_interface = _NoSessionForTheApi()
    app.register_blueprint(bp)
