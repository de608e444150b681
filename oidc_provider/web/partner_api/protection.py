"""Who may call the partner API: a partner API client's bearer token with the needed scope,
within the client's rate limit.

``require_api_scope("bookings:read")`` wraps a view. Only an access token issued by the
client credentials grant to a partner API client that is not revoked is accepted: a
tenant's access token or an id_token is unknown here. Refusals follow RFC 6750 3.1 as
problem+json: 401 ``invalid_token`` (with a ``WWW-Authenticate: Bearer`` challenge) for a
missing, unknown or expired token, 403 ``insufficient_scope`` for a token without the scope.

Each client gets ``API_RATE_LIMIT`` requests (limits syntax, e.g. "600/minute"), counted in
the throttling store (``RATELIMIT_STORAGE_URI``), so every instance shares the count; beyond
it, 429 with ``Retry-After``. When the store cannot be reached the call is answered 503
rather than let through uncounted.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cache, wraps

from flask import current_app, g, request
from limits import parse
from limits.errors import StorageError
from sqlalchemy import bindparam, select

from oidc_provider.core import clock
from oidc_provider.core.extensions import db, limiter
from oidc_provider.core.hashing import token_digest
from oidc_provider.core.models import ApiAccessToken, ApiClient
from oidc_provider.core.problems import Problem
from oidc_provider.web.partner_api.problem_json import problem_response

_tokens, _clients = ApiAccessToken.__table__, ApiClient.__table__
_SELECT_TOKEN = (
    select(_tokens.c.scope, _tokens.c.expires_at, _clients.c.client_id, _clients.c.name)
    .join(_clients, _clients.c.id == _tokens.c.api_client_pk)
    .where(_tokens.c.token_hash == bindparam("token_hash"), _clients.c.revoked_at.is_(None))
)


@dataclass(frozen=True)
class ApiCaller:
    """The partner API client behind the current request."""

    client_id: str
    name: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        """How the audit log names it."""
        return f"api-client:{self.name}"


class Refused(Exception):
    def __init__(self, response):
        self.response = response


def current_caller() -> ApiCaller:
    return g.api_caller


def require_api_scope(scope: str):
    """Decorate a partner API view: it runs only for a valid token holding ``scope``, with
    ``current_caller()`` set."""

    def decorate(view):
        @wraps(view)
        def protected(*args, **kwargs):
            try:
                g.api_caller = _authenticate(scope)
                _count(g.api_caller)
            except Refused as refused:
                return refused.response
            return view(*args, **kwargs)

        protected.required_scope = scope
        return protected

    return decorate


def _authenticate(scope: str) -> ApiCaller:
    scheme, _, token = (request.headers.get("Authorization") or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Refused(_challenge(401, "invalid_token", "A bearer access token is required."))
    row = db.session.connection().execute(_SELECT_TOKEN, {"token_hash": token_digest(token)}).first()
    if row is None or clock.now() >= row.expires_at:
        raise Refused(_challenge(401, "invalid_token", "The access token is unknown, expired or revoked."))
    caller = ApiCaller(row.client_id, row.name, frozenset(row.scope.split()))
    if scope not in caller.scopes:
        raise Refused(_challenge(403, "insufficient_scope", f"This call needs the scope {scope}.", scope))
    return caller


def _challenge(status: int, error: str, message: str, scope: str | None = None):
    challenge = f'Bearer realm="{current_app.config["ISSUER"]}", error="{error}"'
    if scope:
        challenge += f', scope="{scope}"'
    return problem_response(
        status, [Problem("Authorization", message)], headers={"WWW-Authenticate": challenge}, error=error
    )


_parsed = cache(parse)  # the setting's text, parsed once per value rather than on every call


def _count(caller: ApiCaller) -> None:
    item = _parsed(current_app.config["API_RATE_LIMIT"])
    try:
        if limiter.limiter.hit(item, "partner-api", caller.client_id):
            return
        reset_at = limiter.limiter.get_window_stats(item, "partner-api", caller.client_id).reset_time
    except StorageError as error:
        current_app.logger.error("partner API rate limit store unreachable: %s", type(error.storage_error).__name__)
        raise Refused(
            problem_response(
                503, [Problem("", "The service is unavailable for a moment.")], headers={"Retry-After": "30"}
            )
        ) from None
    wait = min(max(1, math.ceil(reset_at - time.time())), item.get_expiry())
    raise Refused(
        problem_response(
            429,
            [Problem("", f"Too many requests from this API client: at most {item}. Retry after {wait} seconds.")],
            headers={"Retry-After": str(wait)},
        )
    )
