"""The authorization request's own rules, as an ordered list of small named checks.

Authlib has already checked, in this order: the client, the redirect URI (exact match),
the response type, the scope (``Client.get_allowed_scope`` drops unregistered scopes).
Everything after that runs here; an error raised here goes back to the client through its
response mode, because the redirect URI is trusted by now. PKCE is the
``grants.S256CodeChallenge`` extension. Whether the user must sign in or consent depends on
the session and is decided in ``interaction``. The token request's parameter limits are
here too, beside the authorization request's.
"""

from __future__ import annotations

import base64
import binascii
import json

from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.requests import OAuth2Request
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError

from oidc_provider.oidc import response_modes

PROMPT_VALUES = {"none", "login", "consent", "select_account"}

#: Longest value accepted for each parameter, in characters.
PARAMETER_LIMITS = {
    "client_id": 64,
    "redirect_uri": 2048,
    "scope": 255,  # the size of the column that keeps the requested scope with the code
    "state": 2048,
    "nonce": 255,
    "code_challenge": 128,
    "code_challenge_method": 8,
    "prompt": 64,
    "max_age": 10,
    "login_hint": 254,
    "response_mode": 16,
    "id_token_hint": 4096,
}


#: Longest value accepted for each token request parameter, in characters. Our codes and
#: secrets are 43; a PKCE verifier is at most 128 (RFC 7636 4.1).
TOKEN_PARAMETER_LIMITS = {
    "grant_type": 64,
    "code": 255,
    "redirect_uri": PARAMETER_LIMITS["redirect_uri"],
    "client_id": PARAMETER_LIMITS["client_id"],
    "client_secret": 255,
    "code_verifier": 128,
    "scope": PARAMETER_LIMITS["scope"],  # client credentials
}


def token_request_problem(request: OAuth2Request) -> str | None:
    """What makes a token request unreadable before anything is looked up, or None: a
    parameter in the URI (RFC 6749 3.2 puts them in the body, where no access log keeps a
    code or a secret), a repeated one (3.2), or one longer than its limit."""
    for name, limit in TOKEN_PARAMETER_LIMITS.items():
        if name in request.args:
            return f"The '{name}' parameter must be sent in the request body, not the URI."
        values = request.form.getlist(name)
        if len(values) > 1:
            return f"The '{name}' parameter is repeated."
        if values and len(values[0]) > limit:
            return f"The '{name}' parameter is longer than {limit} characters."
    return None


def check_parameter_lengths(request: OAuth2Request) -> None:
    for name, limit in PARAMETER_LIMITS.items():
        value = request.payload.data.get(name)
        if value is not None and len(value) > limit:
            raise InvalidRequestError(f"The '{name}' parameter is longer than {limit} characters.")


def check_single_values(request: OAuth2Request) -> None:
    for name in (
        "response_mode",
        "nonce",
        "prompt",
        "max_age",
        "code_challenge",
        "code_challenge_method",
        "id_token_hint",
    ):
        if len(request.payload.datalist.get(name, [])) > 1:
            raise InvalidRequestError(f"The '{name}' parameter is repeated.")


def check_openid_scope(request: OAuth2Request) -> None:
    if "openid" not in request.scope.split():
        raise InvalidScopeError("The 'openid' scope is required.")


def check_response_mode(request: OAuth2Request) -> None:
    mode = request.payload.data.get("response_mode")
    if mode is not None and mode not in response_modes.SUPPORTED:
        raise InvalidRequestError("The 'response_mode' must be form_post or query.")


def check_request_objects(request: OAuth2Request) -> None:
    # OpenID Connect Core 6: request objects are optional; say so in the specified error.
    if "request" in request.payload.data:
        raise RequestNotSupportedError()
    if "request_uri" in request.payload.data:
        raise RequestURINotSupportedError()


def check_prompt(request: OAuth2Request) -> None:
    prompts = prompt_values(request)
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequestError("The 'prompt' value 'none' cannot be combined with others.")


def check_max_age(request: OAuth2Request) -> None:
    value = request.payload.data.get("max_age")
    if value is not None and not value.isdigit():
        raise InvalidRequestError("The 'max_age' parameter must be a non-negative integer.")


def check_id_token_hint(request: OAuth2Request) -> None:
    if request.payload.data.get("id_token_hint") is not None and id_token_hint_subject(request) is None:
        raise InvalidRequestError("The 'id_token_hint' is not an ID Token.")


CHECKS = (
    check_parameter_lengths,
    check_single_values,
    check_request_objects,
    check_response_mode,
    check_openid_scope,
    check_prompt,
    check_max_age,
    check_id_token_hint,
)


def run(grant, redirect_uri: str) -> None:
    """Registered as the grant's ``after_validate_authorization_request_payload`` hook."""
    for check in CHECKS:
        check(grant.request)


def prompt_values(request: OAuth2Request) -> set[str]:
    """The known prompt values; unknown ones are ignored (OpenID Connect Core 3.1.2.1)."""
    return set((request.payload.data.get("prompt") or "").split()) & PROMPT_VALUES


def id_token_hint_subject(request: OAuth2Request) -> str | None:
    """The ``sub`` of the ``id_token_hint``, or None (no hint, or not an ID Token).

    The hint is not verified: it only ever narrows the answer (a code is issued only to the
    signed-in user it names, OpenID Connect Core 3.1.2.2), so a forged one can refuse a
    request but never make us answer for someone else. Expired hints are fine (3.1.2.1)."""
    hint = request.payload.data.get("id_token_hint")
    parts = (hint or "").split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) and subject else None


def max_age(request: OAuth2Request) -> int | None:
    value = request.payload.data.get("max_age")
    return int(value) if value is not None and value.isdigit() else None


def response_mode(request: OAuth2Request) -> str:
    """The mode to answer in: the one asked for when we support it, else the client's
    default (form_post), which also carries the error about an unsupported mode."""
    mode = request.payload.data.get("response_mode")
    if mode in response_modes.SUPPORTED:
        return mode
    client = request.client
    return client.default_response_mode if client is not None else response_modes.FORM_POST
