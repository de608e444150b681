"""Running behind TLS-terminating proxies.

The proxy speaks https to the tenant and plain http to us. Werkzeug's ProxyFix restores
what the tenant used — scheme, host, port and address — from the ``X-Forwarded-*``
headers, trusting only as many hops as ``TRUSTED_PROXY_COUNT`` says: with none, anyone
could claim to have arrived over https. Authlib refuses OAuth requests whose URL is not
https (``InsecureTransportError``, loopback excepted), so behind a proxy this is what lets
the authorization and token endpoints answer at all.
"""

import logging

from authlib.oauth2.rfc6749 import InsecureTransportError
from flask import Flask, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    hops = int(app.config["TRUSTED_PROXY_COUNT"])
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    app.register_error_handler(InsecureTransportError, _refuse_plain_http)


def _refuse_plain_http(error: InsecureTransportError):
    """A request that reached us over http from off the machine: a client that skipped TLS,
    or — far more often — a proxy in front whose X-Forwarded-Proto we were not told to
    trust. Answered, not crashed on; the log tells the operator which setting to look at."""
    log.warning(
        "refused an OAuth request that did not arrive over https; behind a TLS-terminating "
        "proxy, set OIDC_PROVIDER_TRUSTED_PROXY_COUNT"
    )
    response = jsonify(error=error.error, error_description="OAuth 2.0 requests must use https.")
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    return response
