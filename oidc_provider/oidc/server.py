"""Authlib's authorization server and resource protector, configured for this product."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets

from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import InvalidRequestError, UnsupportedResponseTypeError
from authlib.oauth2.rfc6749.grants import authorization_code as authlib_code_grant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oidc.core import UserInfoEndpoint as _UserInfoEndpoint
from flask import Flask, current_app, g, jsonify
from sqlalchemy import bindparam, select
from werkzeug.exceptions import HTTPException

from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import token_digest
from oidc_provider.core.models import (
    TENANT_USER_CLAIM_COLUMNS,
    AccessToken,
    Account,
    Client,
    Pairing,
    TenantUser,
    detached,
)
from oidc_provider.directory.store import profiles_column, remember_profiles
from oidc_provider.oidc import authorization_checks, claims, client_auth, client_credentials, response_modes
from oidc_provider.oidc.grants import AuthorizationCodeGrant, OpenIDConnect, S256CodeChallenge, save_token

_clients, _tokens, _pairings = Client.__table__, AccessToken.__table__, Pairing.__table__
_users, _accounts = TenantUser.__table__, Account.__table__
# Every authorization and token request reads its client, and every account-info or
# userinfo call its token: prebuilt Core statements (see docs/performance.md). The logo
# stays behind: only its own page serves it.
_CLIENT_COLUMNS = [column for column in _clients.c if column.key != "logo"]
_SELECT_CLIENT = select(*_CLIENT_COLUMNS).where(
    _clients.c.client_id == bindparam("client_id"), _clients.c.enabled.is_(True)
)
# A token with everything its callers answer from: the client, the user, the account and
# the pairing. Both readings of the bearer (base64 and raw) in one query.
_SELECT_TOKEN = (
    select(_tokens, *_CLIENT_COLUMNS, *TENANT_USER_CLAIM_COLUMNS, _accounts, _pairings)
    .join(_clients, _clients.c.id == _tokens.c.client_pk)
    .join(_users, _users.c.id == _tokens.c.user_id)
    .join(_accounts, _accounts.c.id == _tokens.c.account_id)
    .outerjoin(_pairings, _pairings.c.access_token_id == _tokens.c.id)
    .where(_tokens.c.token_hash.in_(bindparam("digests", expanding=True)))
)
# On PostgreSQL with the account's profiles, which account-info answers.
_SELECT_TOKEN_WITH_PROFILES = _SELECT_TOKEN.add_columns(profiles_column(_accounts))


class StoredAuthorizationRequest(OAuth2Request):
    """An authorization request replayed from the parameters kept during sign-in or
    consent, so that it is validated again exactly as it first arrived."""

    def __init__(self, params: dict[str, str], uri: str):
        super().__init__("GET", uri, headers={})
        self.payload = BasicOAuth2Payload(params)

    @property
    def args(self):
        return self.payload.data

    @property
    def form(self):
        return {}


class AuthorizationServer(FlaskAuthorizationServer):
    def query_client(self, client_id: str) -> Client | None:
        # A NUL cannot be in a client id, and PostgreSQL refuses to even compare with one.
        too_long = len(client_id or "") > authorization_checks.PARAMETER_LIMITS["client_id"]
        if not client_id or too_long or "\x00" in client_id:
            return None
        # Once per request: Authlib validates an authorization request again when it
        # answers it, and would look the client up twice.
        known = g.setdefault("oidc_provider_clients", {})
        if client_id not in known:
            row = db.session.execute(_SELECT_CLIENT, {"client_id": client_id}).first()
            known[client_id] = detached(Client, row) if row else None
        return known[client_id]

    def save_token(self, token: dict, request) -> None:
        if request.payload.grant_type == client_credentials.ClientCredentialsGrant.GRANT_TYPE:
            client_credentials.save_token(token, request)
        else:
            save_token(token, request)

    def get_authorization_grant(self, request):
        """Authlib hands an unsupported response_type to its error as the description (the
        arguments are swapped), then refuses that description when the value holds a
        character RFC 6749 5.2 forbids there: a 500 for response_type=é. Such a value is
        unsupported all the same; say so, to the redirect URI only when that is registered."""
        response_type = request.payload.response_type or ""
        if not invalid_error_characters(response_type):
            return super().get_authorization_grant(request)
        client = self.query_client(request.payload.client_id)
        redirect_uri = request.payload.redirect_uri
        trusted = client is not None and redirect_uri and client.check_redirect_uri(redirect_uri)
        raise UnsupportedResponseTypeError(
            response_type, "The response type is not supported.", redirect_uri=redirect_uri if trusted else None
        )

    def validate_requested_scope(self, scope) -> None:
        # Authlib refuses scopes it does not know; ServiceTitan's admin types them by hand,
        # so unknown scopes are dropped instead (Client.get_allowed_scope).
        return None

    def create_oauth2_request(self, request):
        if isinstance(request, OAuth2Request):
            return request
        if isinstance(request, dict):
            return StoredAuthorizationRequest(request, current_app.config["ISSUER"] + "/authorize")
        return super().create_oauth2_request(request)

    def create_token_response(self, request=None):
        # Authlib answers a missing grant_type as an unsupported one; RFC 6749 5.2 calls a
        # missing required parameter invalid_request.
        oauth_request = self.create_oauth2_request(request)
        if not oauth_request.payload.grant_type:
            return self.handle_error_response(oauth_request, InvalidRequestError("Missing 'grant_type'."))
        if problem := authorization_checks.token_request_problem(oauth_request):
            return self.handle_error_response(oauth_request, InvalidRequestError(problem))
        return super().create_token_response(oauth_request)

    def handle_error_response(self, request, error):
        """An authorization error whose redirect URI is trusted goes back through the
        response mode; everything else is answered as JSON."""
        if error.redirect_uri:
            mode = authorization_checks.response_mode(request)
            return self.handle_response(*response_modes.respond(error.redirect_uri, error.get_body(), mode))
        return super().handle_error_response(request, error)


class Base64BearerTokenValidator(BearerTokenValidator):
    """ServiceTitan sends ``Authorization: Bearer <Base64(access_token)>``; a raw token is
    accepted too. Anything that decodes to no known token is ``invalid_token`` (401)."""

    def authenticate_token(self, token_string: str) -> AccessToken | None:
        digests = [token_digest(candidate) for candidate in _token_candidates(token_string)]
        postgresql = db.engine.dialect.name == "postgresql"
        row = db.session.execute(
            _SELECT_TOKEN_WITH_PROFILES if postgresql else _SELECT_TOKEN, {"digests": digests}
        ).first()
        if row is None:
            return None
        token = detached(AccessToken, row)
        token.client, token.user, token.account = (
            detached(Client, row),
            detached(TenantUser, row),
            detached(Account, row),
        )
        token.pairing = detached(Pairing, row) if row._mapping[_pairings.c.id] is not None else None
        remember_profiles(token.account.id, row)
        return token


def _token_candidates(token_string: str) -> list[str]:
    candidates = [token_string]
    try:
        candidates.append(base64.b64decode(token_string, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    return candidates


class BearerProtector(ResourceProtector):
    """RFC 6750 errors: 401 with a ``WWW-Authenticate: Bearer`` challenge and a JSON body,
    whatever is wrong with the Authorization header."""

    def parse_request_authorization(self, request):
        scheme, _, token = (request.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidTokenError(
                description="A bearer access token is required.", realm=current_app.config["ISSUER"]
            )
        return self.get_token_validator("bearer"), token.strip()

    def acquire_token(self, scopes=None, **kwargs):
        try:
            return super().acquire_token(scopes, **kwargs)
        except OAuth2Error as error:
            self.raise_error_response(error)

    def raise_error_response(self, error):
        response = jsonify(dict(error.get_body()))
        response.status_code = error.status_code
        response.headers.extend([(k, v) for k, v in error.get_headers() if k != "Content-Type"])
        raise HTTPException(response=response)


class UserInfoEndpoint(_UserInfoEndpoint):
    def get_issuer(self) -> str:
        return current_app.config["ISSUER"]

    def generate_user_info(self, user, scope: str) -> dict:
        return claims.user_claims(user, scope)


_AUTHLIB_CODE_GRANT_LOG = logging.getLogger(authlib_code_grant.__name__)


class IssuedTokenFilter(logging.Filter):
    """Authlib logs every issued token dict, access token and all, at DEBUG ("Issue token
    %r to %r"). A level set on its logger would not survive an operator's logging
    configuration; a filter on the logger that writes it drops those records whatever the
    levels, so that no token reaches a log even when debugging is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Issue token")


def init_app(app: Flask) -> None:
    """Build this app's server and protector (each app its own: lifetimes are settings)."""
    if not any(isinstance(f, IssuedTokenFilter) for f in _AUTHLIB_CODE_GRANT_LOG.filters):
        _AUTHLIB_CODE_GRANT_LOG.addFilter(IssuedTokenFilter())
    lifetime = app.config["ACCESS_TOKEN_LIFETIME"]
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"authorization_code": lifetime, "client_credentials": lifetime})
    app.config.setdefault("OAUTH2_ACCESS_TOKEN_GENERATOR", lambda **kwargs: secrets.token_urlsafe(32))
    app.config.setdefault("OAUTH2_REFRESH_TOKEN_GENERATOR", False)
    server = AuthorizationServer(app)
    protector = BearerProtector()
    server.register_client_auth_method(
        client_auth.METHOD_NAME,
        lambda query_client, request: client_auth.authenticate_client_secret_basic_or_post(
            client_credentials.query_token_client(query_client), request
        ),
    )
    server.register_grant(AuthorizationCodeGrant, [OpenIDConnect(), S256CodeChallenge(required=False)])
    server.register_grant(client_credentials.ClientCredentialsGrant)
    protector.register_token_validator(Base64BearerTokenValidator())
    server.register_endpoint(UserInfoEndpoint(resource_protector=protector))
    app.extensions["oidc_provider.authorization_server"] = server
    app.extensions["oidc_provider.bearer_protector"] = protector


def authorization_server() -> AuthorizationServer:
    return current_app.extensions["oidc_provider.authorization_server"]


def bearer_protector() -> BearerProtector:
    return current_app.extensions["oidc_provider.bearer_protector"]
