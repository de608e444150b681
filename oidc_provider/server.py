"""Authlib's authorization server and resource protector, configured for this product."""

from __future__ import annotations

import base64
import logging
import binascii
import secrets

from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oidc.core import UserInfoEndpoint as _UserInfoEndpoint
from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException
from sqlalchemy import select

from . import authorization_checks, claims, client_auth, response_modes
from .extensions import db
from .grants import AuthorizationCodeGrant, OpenIDConnect, S256CodeChallenge, save_token
from .hashing import token_digest
from .models import AccessToken, Client


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
        if not client_id or len(client_id) > authorization_checks.PARAMETER_LIMITS["client_id"]:
            return None
        return db.session.scalar(select(Client).where(Client.client_id == client_id, Client.enabled.is_(True)))

    def save_token(self, token: dict, request) -> None:
        save_token(token, request)

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
        for candidate in _token_candidates(token_string):
            token = db.session.scalar(select(AccessToken).where(AccessToken.token_hash == token_digest(candidate)))
            if token is not None:
                return token
        return None


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


def init_app(app: Flask) -> None:
    """Build this app's server and protector (each app its own: lifetimes are settings)."""
    # Authlib logs every issued token at DEBUG; keep its logger above that, so that no
    # token reaches a log even when an operator turns debugging on.
    logging.getLogger("authlib").setLevel(logging.INFO)
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"authorization_code": app.config["ACCESS_TOKEN_LIFETIME"]})
    app.config.setdefault("OAUTH2_ACCESS_TOKEN_GENERATOR", lambda **kwargs: secrets.token_urlsafe(32))
    app.config.setdefault("OAUTH2_REFRESH_TOKEN_GENERATOR", False)
    server = AuthorizationServer(app)
    protector = BearerProtector()
    server.register_client_auth_method(client_auth.METHOD_NAME, client_auth.authenticate_client_secret_basic_or_post)
    server.register_grant(AuthorizationCodeGrant, [OpenIDConnect(), S256CodeChallenge(required=False)])
    protector.register_token_validator(Base64BearerTokenValidator())
    server.register_endpoint(UserInfoEndpoint(resource_protector=protector))
    app.extensions["oidc_provider.authorization_server"] = server
    app.extensions["oidc_provider.bearer_protector"] = protector


def authorization_server() -> AuthorizationServer:
    return current_app.extensions["oidc_provider.authorization_server"]


def bearer_protector() -> BearerProtector:
    return current_app.extensions["oidc_provider.bearer_protector"]
