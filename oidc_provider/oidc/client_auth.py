"""Client authentication at the token endpoint: HTTP Basic, the form body, or both.

ServiceTitan sends its credentials twice, as a Basic header *and* in the body. RFC 6749
section 2.3 tells clients not to, and Authlib's registry takes the first method that works
without looking at the other. This method accepts both at once only when they name the same
client with the same secret; any disagreement is an ``invalid_client``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import unquote

from authlib.oauth2.rfc6749 import InvalidClientError

from oidc_provider.core.audit import record_event

METHOD_NAME = "client_secret_basic_or_post"


class _Credentials:
    def __init__(self, client_id: str | None, client_secret: str | None):
        self.client_id = client_id
        self.client_secret = client_secret


def parse_basic_authorization(header: str | None) -> _Credentials | None:
    """The client id and secret of a Basic header, per RFC 6749 2.3.1 (each part
    form-urlencoded before base64). ``None`` when there is no Basic header; raises
    ``InvalidClientError`` when there is one that cannot be read."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _refused("The Basic authorization header is not valid base64 of UTF-8 text.") from None
    client_id, colon, client_secret = decoded.partition(":")
    if not colon or not client_id:
        raise _refused("The Basic authorization header must carry client_id:client_secret.")
    return _Credentials(unquote(client_id), unquote(client_secret))


def authenticate_client_secret_basic_or_post(query_client, request):
    """Registered with Authlib's ``AuthorizationServer.register_client_auth_method``. A
    refusal is a security event in the audit log (the token endpoint's transaction
    commits it with the error answer); no secret goes into it."""
    try:
        return _authenticate(query_client, request)
    except InvalidClientError as refused:
        record_event("client_authentication_failed", detail={"reason": refused.description})
        raise


def _authenticate(query_client, request):
    basic = parse_basic_authorization(request.headers.get("Authorization"))
    body = _Credentials(request.form.get("client_id"), request.form.get("client_secret"))
    if basic and body.client_id is not None and body.client_id != basic.client_id:
        raise _refused("The client_id in the body differs from the one in the Basic header.")
    if (
        basic
        and body.client_secret is not None
        and not hmac.compare_digest(body.client_secret.encode(), basic.client_secret.encode())
    ):
        raise _refused("The client_secret in the body differs from the one in the Basic header.")

    credentials = basic or body
    if not credentials.client_id or not credentials.client_secret:
        raise _refused("Client authentication is required: HTTP Basic or client_id and client_secret.")
    client = query_client(credentials.client_id)
    if client is None or not client.check_client_secret(credentials.client_secret):
        raise _refused("Client authentication failed.")
    # An HS256 client's id_token is signed with the secret that authenticated this request
    # (during a rotation, the old one or the new). The client was read for this request alone.
    client.authenticated_secret = credentials.client_secret
    return client


def _refused(description: str) -> InvalidClientError:
    # 401 and a WWW-Authenticate challenge, whichever way the client tried (RFC 6749 5.2).
    return InvalidClientError(description=description, status_code=401)
