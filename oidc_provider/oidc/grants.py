"""The authorization code grant and its OpenID Connect extension: storage and claims only.

The protocol is Authlib's. These subclasses answer where codes live, who the user is, which
account was chosen, how the id_token is signed, and how the response reaches the client.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from authlib.oauth2.rfc6749 import InvalidRequestError, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from flask import current_app
from joserfc.jwk import OctKey
from sqlalchemy import Row, bindparam, insert, select, update

from oidc_provider.core import clock
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import token_digest
from oidc_provider.core.models import (
    TENANT_USER_CLAIM_COLUMNS,
    AccessToken,
    Account,
    AuthorizationCode,
    TenantUser,
    detached,
)
from oidc_provider.directory.store import profiles_column, remember_profiles
from oidc_provider.oidc import authorization_checks, claims, response_modes
from oidc_provider.oidc.keys import key_ring
from oidc_provider.pairing.lifecycle import record_pairing

_codes, _tokens = AuthorizationCode.__table__, AccessToken.__table__
_users, _accounts = TenantUser.__table__, Account.__table__

# The code exchange is the hot path ServiceTitan waits on: its statements are built once,
# in Core, without the unit of work (see docs/performance.md).
_INSERT_CODE = insert(_codes)
# A code with its user and account, which every token response reads: one query.
_SELECT_CODE = (
    select(_codes, *TENANT_USER_CLAIM_COLUMNS, _accounts)
    .join(_users, _users.c.id == _codes.c.user_id)
    .join(_accounts, _accounts.c.id == _codes.c.account_id)
    .where(_codes.c.code_hash == bindparam("digest"), _codes.c.client_pk == bindparam("of_client"))
)
# The claim: of all the requests that present this code, one changes the row.
_CLAIM_CODE = (
    update(_codes)
    .where(_codes.c.id == bindparam("code_id"), _codes.c.redeemed_at.is_(None))
    .values(redeemed_at=bindparam("now"))
)
# On PostgreSQL the claim answers the code with its user, account and profiles: one round
# trip instead of three.
_CLAIM_CODE_RETURNING = (
    update(_codes)
    .where(
        _codes.c.code_hash == bindparam("digest"),
        _codes.c.client_pk == bindparam("of_client"),
        _codes.c.redeemed_at.is_(None),
        _codes.c.expires_at > bindparam("now"),
        _users.c.id == _codes.c.user_id,
        _accounts.c.id == _codes.c.account_id,
    )
    .values(redeemed_at=bindparam("now"))
    .returning(*_codes.c, *TENANT_USER_CLAIM_COLUMNS, *_accounts.c, profiles_column(_accounts))
)
_REVOKE_TOKENS_OF_CODE = (
    update(_tokens)
    .where(_tokens.c.authorization_code_id == bindparam("code_id"), _tokens.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic_or_post"]

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def validate_authorization_redirect_uri(request, client) -> str:
        """An exact match with a registered URI; there is no default (OpenID Connect makes
        redirect_uri REQUIRED). Authlib's own version quotes a refused URI in its error
        description, then refuses that description when the URI holds a character RFC 6749
        5.2 forbids there (a quote, a backslash, a non-ASCII letter): a 500 for a hostile URI."""
        redirect_uri = request.payload.redirect_uri
        if not redirect_uri:
            raise InvalidRequestError("Missing 'redirect_uri' in request.", state=request.payload.state)
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("The 'redirect_uri' is not registered for this client.")
        return redirect_uri

    def create_authorization_response(self, redirect_uri: str, grant_user):
        """Issue the code through the request's response mode (form_post by default)."""
        if not grant_user:
            return super().create_authorization_response(redirect_uri, grant_user)
        self.request.user = grant_user
        code = self.generate_authorization_code()
        self.save_authorization_code(code, self.request)
        params = [("code", code)]
        if self.request.payload.state:
            params.append(("state", self.request.payload.state))
        mode = authorization_checks.response_mode(self.request)
        return response_modes.respond(redirect_uri, params, mode)

    def save_authorization_code(self, code: str, request) -> None:
        lifetime = current_app.config["AUTHORIZATION_CODE_LIFETIME"]
        data = request.payload.data
        db.session.execute(
            _INSERT_CODE,
            {
                "code_hash": token_digest(code),
                "client_pk": request.client.id,
                "user_id": request.user.id,
                "account_id": request.account.id,
                "redirect_uri": request.payload.redirect_uri,
                "scope": request.scope,
                "requested_scope": request.payload.scope,
                "nonce": data.get("nonce"),
                "code_challenge": data.get("code_challenge"),
                "code_challenge_method": data.get("code_challenge_method"),
                "auth_time": request.auth_time,
                "expires_at": clock.now() + timedelta(seconds=lifetime),
            },
        )
        db.session.commit()

    def query_authorization_code(self, code: str, client) -> AuthorizationCode | None:
        """Claim the code for this request, once. A code presented again — even at the same
        moment, on another instance — is refused, and what its first use issued is revoked
        (RFC 6749 4.1.2)."""
        keys = {"digest": token_digest(code), "of_client": client.id}
        row = _claim(keys)
        if row is None:
            # Unknown, expired, or used before: read again to tell which, off the hot path.
            known = db.session.execute(_SELECT_CODE, keys).first()
            if known is not None and clock.now() < (reused := detached(AuthorizationCode, known)).expires_at:
                _revoke_tokens_of(reused)
            return None
        found = detached(AuthorizationCode, row)
        found.user = detached(TenantUser, row)
        found.account = detached(Account, row)
        remember_profiles(found.account.id, row)
        return found

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # The code stays, marked redeemed, so that a second use is recognized as reuse.
        pass

    def authenticate_user(self, authorization_code: AuthorizationCode) -> TenantUser | None:
        return authorization_code.user

    def create_token_response(self):
        status, token, headers = super().create_token_response()
        # RFC 6749 5.1: "scope" is sent when it differs from the one requested.
        if token.get("scope") == self.request.authorization_code.requested_scope:
            del token["scope"]
        return status, token, headers


def _claim(keys: dict) -> Row | None:
    """The code's row with its user and account (on PostgreSQL, with the account's profiles
    too), claimed for this request; None for a code that is unknown, expired or claimed."""
    now = clock.now()
    if db.engine.dialect.name == "postgresql":
        return db.session.execute(_CLAIM_CODE_RETURNING, {**keys, "now": now}).first()
    row = db.session.execute(_SELECT_CODE, keys).first()
    if row is None or now >= row._mapping[_codes.c.expires_at]:
        return None
    if db.session.execute(_CLAIM_CODE, {"code_id": row._mapping[_codes.c.id], "now": now}).rowcount != 1:
        return None
    return row


def _revoke_tokens_of(code: AuthorizationCode) -> None:
    revoked = db.session.execute(_REVOKE_TOKENS_OF_CODE, {"code_id": code.id, "now": clock.now()}).rowcount
    record_event("authorization_code_reuse", detail={"client_pk": code.client_pk, "tokens_revoked": revoked})


def save_token(token: dict, request) -> None:
    """Registered with the server: store the access token's hash and the pairing it makes."""
    code: AuthorizationCode = request.authorization_code
    now = clock.now()
    values = {
        "token_hash": token_digest(token["access_token"]),
        "client_pk": request.client.id,
        "user_id": code.user_id,
        "account_id": code.account_id,
        "authorization_code_id": code.id,
        "scope": token["scope"],
        "issued_at": now,
        "expires_at": now + timedelta(seconds=token["expires_in"]),
    }
    # Authlib saves the token before its after_create_token_response hooks run, so the
    # id_token (OpenIDConnect.get_compatible_claims) finds the pairing it reports here.
    request.pairing = record_pairing(request.client, code.user, code.account, values)


class S256CodeChallenge(CodeChallenge):
    """PKCE, optional for confidential clients, and only with S256: a challenge without a
    method means ``plain`` (RFC 7636 4.3), which RFC 9700 2.1.1 tells us not to accept."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")


class OpenIDConnect(OpenIDCode):
    """id_token signing and claims. The prompt and nonce rules run in
    ``authorization_checks`` with the others, in one ordered list."""

    def __call__(self, grant):
        grant.register_hook("after_create_token_response", self.process_token)
        grant.register_hook("after_validate_authorization_request_payload", authorization_checks.run)

    def get_client_algorithm(self, client) -> str:
        return client.id_token_alg

    def get_encode_header(self, client) -> dict:
        alg = client.id_token_alg
        if alg == "HS256":
            return {"alg": alg, "typ": "JWT"}
        return {"alg": alg, "typ": "JWT", "kid": key_ring().signing_key(alg).kid}

    def resolve_client_private_key(self, client):
        if client.id_token_alg == "HS256":
            # OpenID Connect Core 10.1: the octets of the client secret, as it authenticated.
            return OctKey.import_key(client.authenticated_secret)
        return key_ring().signing_key(client.id_token_alg).private_key

    def get_client_claims(self, client) -> dict:
        now = clock.timestamp()
        return {
            "iss": current_app.config["ISSUER"],
            "aud": client.client_id,
            "iat": now,
            "exp": now + current_app.config["ID_TOKEN_LIFETIME"],
        }

    def get_compatible_claims(self, request) -> dict:
        """The claims Authlib builds from the token request (iss, aud, times), and the
        accountInfo claim of the pairing that ``save_token`` recorded on the request."""
        request_claims = super().get_compatible_claims(request)
        if request.client.account_info_claim:
            # record_pairing gave the account its profiles when it could be COMPLETED; the
            # claim names no account otherwise.
            pairing = request.pairing
            request_claims["accountInfo"] = claims.account_info_claim(pairing.account, pairing.status)
        return request_claims

    def generate_user_info(self, user: TenantUser, scope: str) -> dict:
        return claims.user_claims(user, scope)

    def exists_nonce(self, nonce: str, request) -> bool:
        # A nonce is the client's to make unique; codes are single-use, so replay of a
        # nonce cannot yield a second id_token.
        return False
