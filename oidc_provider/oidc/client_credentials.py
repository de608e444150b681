"""The client credentials grant (RFC 6749 4.4) for partner API clients: storage and scope only.

The protocol is Authlib's. A relying-party client asking for it gets ``unauthorized_client``
(``Client.check_grant_type``); a scope beyond the API client's is ``invalid_scope``; no
scope asks for every scope the client holds (RFC 6749 3.3).
"""

from __future__ import annotations

from datetime import timedelta

from authlib.oauth2.rfc6749 import InvalidScopeError, grants
from sqlalchemy import bindparam, insert, select

from oidc_provider.core import clock
from oidc_provider.core.audit import record_event
from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import token_digest
from oidc_provider.core.models import ApiAccessToken, ApiClient, Client, detached
from oidc_provider.oidc.authorization_checks import PARAMETER_LIMITS

CLIENT_ID_MAX = PARAMETER_LIMITS["client_id"]
_INSERT_TOKEN = insert(ApiAccessToken.__table__)
_SELECT_API_CLIENT = select(ApiClient.__table__).where(ApiClient.client_id == bindparam("client_id"))


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic_or_post"]

    def validate_requested_scope(self):
        client = self.request.client
        requested = (self.request.payload.scope or "").split()
        beyond = [scope for scope in requested if scope not in client.scope.split()]
        if beyond:
            raise InvalidScopeError(f"The client may not ask for {' '.join(beyond)}.")

    def create_token_response(self):
        # Authlib's own, with the scope granted always in the answer: the client may not
        # have named one.
        scope = self.request.client.get_allowed_scope(self.request.payload.scope)
        token = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def query_token_client(query_client):
    """The client lookup at the token endpoint, where both kinds authenticate: a relying
    party (``query_client``, the server's own) or else a partner API client. The
    authorization endpoint keeps the server's lookup and never sees an API client."""

    def query(client_id: str) -> Client | ApiClient | None:
        found = query_client(client_id)
        # query_client answers None for ids that cannot be any client's (empty, too long,
        # holding a NUL that PostgreSQL refuses to compare): no second lookup for those.
        if found is not None or not client_id or len(client_id) > CLIENT_ID_MAX or "\x00" in client_id:
            return found
        row = db.session.execute(_SELECT_API_CLIENT, {"client_id": client_id}).first()
        return detached(ApiClient, row) if row else None

    return query


def save_token(token: dict, request) -> None:
    client: ApiClient = request.client
    now = clock.now()
    db.session.execute(
        _INSERT_TOKEN,
        {
            "token_hash": token_digest(token["access_token"]),
            "api_client_pk": client.id,
            "scope": token["scope"],
            "issued_at": now,
            "expires_at": now + timedelta(seconds=token["expires_in"]),
        },
    )
    record_event(
        "api_token_issued", f"api-client:{client.name}", {"client_id": client.client_id, "scope": token["scope"]}
    )
