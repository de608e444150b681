"""OpenID Provider metadata and the public signing keys."""

from flask import Blueprint, Response, current_app, jsonify, request

from oidc_provider.oidc import openapi
from oidc_provider.oidc.claims import CLAIMS_SUPPORTED
from oidc_provider.oidc.keys import key_ring
from oidc_provider.oidc.response_modes import SUPPORTED as RESPONSE_MODES
from oidc_provider.web import prebuilt

bp = Blueprint("discovery", __name__)


def endpoint_urls(issuer: str) -> dict[str, str]:
    """Every endpoint's absolute URL, by its discovery name; the admin console's setup
    sheet lists the same."""
    return {
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        # Our own field: ServiceTitan learns this URL from the partner, not from discovery.
        "account_info_endpoint": f"{issuer}/account-info",
    }


@bp.get("/.well-known/openid-configuration")
@bp.get("/.well-known/oauth-authorization-server")  # the same metadata, where RFC 8414 looks
def openid_configuration():
    issuer = current_app.config["ISSUER"]
    response = jsonify(
        issuer=issuer,
        **endpoint_urls(issuer),
        response_types_supported=["code"],
        response_modes_supported=list(RESPONSE_MODES),
        grant_types_supported=["authorization_code", "client_credentials"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=["RS256", "ES256", "HS256"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
        code_challenge_methods_supported=["S256"],
        scopes_supported=current_app.config["SCOPES_SUPPORTED"],
        claims_supported=CLAIMS_SUPPORTED,
        prompt_values_supported=["none", "login", "consent", "select_account"],
        claims_parameter_supported=False,
        request_parameter_supported=False,
        request_uri_parameter_supported=False,
        # Every authorization response carries iss (RFC 9207), against mix-up attacks.
        authorization_response_iss_parameter_supported=True,
    )
    # Settings only: the same for the process's life (the check is for a test that moves
    # the issuer of a running app to a server's address).
    settings = current_app.config
    prebuilt.keep(lambda: settings["ISSUER"] == issuer)
    return _public(response)


@bp.get("/jwks.json")
def jwks():
    document, current = key_ring().published()
    prebuilt.keep(current)
    return _public(jsonify(document))


def _public(response: Response) -> Response:
    """Cached by anyone for five minutes: short enough that a newly published key is seen
    long before it starts signing. A client that has this version already gets a 304."""
    response.cache_control.public = True
    response.cache_control.max_age = 300
    response.add_etag()
    # Only for a conditional request: make_conditional also adds a Date, which a repeated
    # answer (web/prebuilt.py) would carry stale.
    return response.make_conditional(request) if request.if_none_match else response


@bp.get("/openapi.json")
def openapi_document():
    """The back channel's contract (docs/security.md says how it is tested)."""
    response = jsonify(
        openapi.document(
            current_app.config["ISSUER"], current_app.config["WEBHOOK_PREFIX"], current_app.config["WEBHOOK_HEADER"]
        )
    )
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response
