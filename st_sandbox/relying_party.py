"""ServiceTitan's side of OpenID Connect pairing, rebuilt with requests + jwcrypto.

It deliberately shares no code with the provider (which uses Authlib), so that a
bug in one library cannot hide itself by being present on both ends of the test.
Each method mirrors one step of the platform document's "OpenId Connect Pairing"
section, including its quirks: no nonce, no PKCE, client credentials sent twice
at the token endpoint, and a base64-encoded access token inside the Bearer header.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from jwcrypto import jwk, jws
from jwcrypto.common import JWException

ACCEPTED_ALGS = ("RS256", "ES256", "HS256")
"""The algorithms ServiceTitan accepts; ``none`` and everything else is refused."""

_KTY_FOR_ALG = {"RS256": "RSA", "ES256": "EC"}

_HS256_MIN_SECRET_BYTES = 32
"""jwcrypto refuses HMAC keys shorter than the hash (RFC 7518 section 3.2)."""

_REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")


class RelyingPartyError(Exception):
    """The provider answered something ServiceTitan would refuse.

    ``status`` and ``body`` hold the HTTP status and the decoded JSON body (or text)
    of the offending answer when there was one, so a test can show what went wrong.
    """

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def encode_bearer(access_token: str) -> str:
    """Return the token as ServiceTitan puts it in the header: standard base64, padded."""
    return base64.b64encode(access_token.encode("utf-8")).decode("ascii")


def parse_account_info(claims: dict[str, Any]) -> dict[str, Any] | None:
    """Decode the optional ``accountInfo`` claim, which the spec makes a JSON *string*.

    Returns None when the claim is absent; raises RelyingPartyError when it is not a
    string holding a JSON object, because ServiceTitan could not read it either.
    """
    if "accountInfo" not in claims:
        return None
    raw = claims["accountInfo"]
    if not isinstance(raw, str):
        raise RelyingPartyError(f"accountInfo must be a JSON string, got {type(raw).__name__}")
    try:
        account_info = json.loads(raw)
    except ValueError as exc:
        raise RelyingPartyError(f"accountInfo is not valid JSON: {exc}") from exc
    if not isinstance(account_info, dict):
        raise RelyingPartyError("accountInfo must hold a JSON object")
    return account_info


def _is_absolute(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class RelyingParty:
    """One ServiceTitan integration configured against one partner provider.

    Example::

        rp = RelyingParty("https://op.example", "client", "secret",
                          "https://st.example/callback")
        browser_goes_to = rp.authorization_url("some-state")
        tokens = rp.exchange_code(code_from_form_post)
        claims = rp.verify_id_token(tokens["id_token"])
        status, body = rp.account_info(tokens["access_token"], "request-1")
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        scope: str = "openid",
        send_response_mode: bool = True,
        session: requests.Session | None = None,
        timeout: float = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``timeout`` is in seconds per request; ``clock`` returns Unix seconds and
        exists so tests can check ``exp`` against fixed data without sleeping."""
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        # The platform document: scope "contains at least openid value", other
        # values being whatever the ServiceTitan admin configured.
        extra = [s for s in scope.split() if s != "openid"]
        self.scope = " ".join(["openid", *extra])
        self.send_response_mode = send_response_mode
        self.session = session or requests.Session()
        self.timeout = timeout
        self.clock = clock
        self._metadata: dict[str, Any] | None = None
        self._jwks: jwk.JWKSet | None = None

    # -- discovery -----------------------------------------------------------

    def discover(self) -> dict[str, Any]:
        """Fetch and cache the discovery document, refusing what ServiceTitan cannot use.

        The issuer must match byte for byte: ServiceTitan compares the id_token's
        ``iss`` with it, so a trailing slash or a different host breaks every pairing.
        """
        if self._metadata is not None:
            return self._metadata
        # OpenID Connect Discovery 1.0 section 4: strip one trailing slash, then append.
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        metadata = self._get_json(url, "discovery document")
        if not isinstance(metadata, dict):
            raise RelyingPartyError("discovery document is not a JSON object", body=metadata)
        if metadata.get("issuer") != self.issuer:
            raise RelyingPartyError(
                f"discovery issuer {metadata.get('issuer')!r} is not {self.issuer!r}",
                body=metadata,
            )
        for name in _REQUIRED_ENDPOINTS:
            if name not in metadata:
                raise RelyingPartyError(f"discovery document lacks {name}", body=metadata)
        for name, value in metadata.items():
            if (name.endswith("_endpoint") or name == "jwks_uri") and not _is_absolute(value):
                raise RelyingPartyError(f"{name} is not an absolute URL: {value!r}", body=metadata)
        self._metadata = metadata
        return metadata

    # -- step 2: authorization request and token request ---------------------

    def authorization_url(self, state: str) -> str:
        """Where ServiceTitan sends the tenant's browser. Never a nonce, never PKCE."""
        endpoint = self.discover()["authorization_endpoint"]
        params = [("client_id", self.client_id), ("response_type", "code")]
        if self.send_response_mode:
            params.append(("response_mode", "form_post"))
        params += [("scope", self.scope), ("state", state), ("redirect_uri", self.redirect_uri)]
        separator = "&" if urlsplit(endpoint).query else "?"
        return endpoint + separator + urlencode(params)

    def exchange_code(self, code: str) -> dict[str, Any]:
        """Trade the code for tokens, sending the client credentials twice as ServiceTitan does.

        RFC 6749 section 2.3 forbids using two authentication methods at once; the
        platform document's token request does it anyway, so a provider must cope.
        """
        endpoint = self.discover()["token_endpoint"]
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode())
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        headers = {"Authorization": "Basic " + basic.decode("ascii"), "Accept": "application/json"}
        try:
            response = self.session.post(endpoint, data=form, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise RelyingPartyError(f"token request failed: {exc}") from exc
        body = _json_or_text(response)
        if response.status_code != 200:
            raise RelyingPartyError(
                f"token endpoint answered {response.status_code}",
                status=response.status_code,
                body=body,
            )
        if not isinstance(body, dict):
            raise RelyingPartyError("token response is not a JSON object", status=200, body=body)
        for name in ("access_token", "id_token"):
            if not isinstance(body.get(name), str):
                raise RelyingPartyError(f"token response lacks {name}", status=200, body=body)
        if str(body.get("token_type", "")).lower() != "bearer":
            raise RelyingPartyError("token_type is not Bearer", status=200, body=body)
        return body

    def verify_id_token(self, id_token: str) -> dict[str, Any]:
        """Check the id_token's signature and required claims; return its claims.

        HS256 is keyed with the client secret (the platform document's example is
        HS256); RS256 and ES256 with the key named by ``kid`` in the provider's JWKS.
        The ``accountInfo`` claim, if any, is left as the string it is on the wire:
        decode it with :func:`parse_account_info`.
        """
        token = jws.JWS()
        try:
            token.deserialize(id_token)
            header = token.jose_header
        except (JWException, ValueError, TypeError) as exc:
            raise RelyingPartyError(f"id_token is not a compact JWS: {exc}") from exc
        alg = header.get("alg")
        if alg not in ACCEPTED_ALGS:
            raise RelyingPartyError(f"id_token alg {alg!r} is not one of {ACCEPTED_ALGS}")
        key = self._verification_key(alg, header.get("kid"))
        try:
            token.verify(key, alg=alg)
        except JWException as exc:
            raise RelyingPartyError(f"id_token signature is invalid: {exc}") from exc
        try:
            claims = json.loads(token.payload)
        except ValueError as exc:
            raise RelyingPartyError("id_token payload is not JSON") from exc
        if not isinstance(claims, dict):
            raise RelyingPartyError("id_token payload is not a JSON object", body=claims)
        self._check_claims(claims)
        return claims

    # -- step 3: account pairing ---------------------------------------------

    def account_info(self, access_token: str, request_id: str) -> tuple[int, Any]:
        """Ask the account-info endpoint which account was paired.

        Returns the HTTP status and the decoded JSON body (None if the body is not
        JSON); the caller judges the answer, since a 401 is a finding, not a crash.
        """
        endpoint = self.discover().get("account_info_endpoint")
        if not _is_absolute(endpoint):
            raise RelyingPartyError(f"account_info_endpoint is missing or relative: {endpoint!r}")
        headers = {"Authorization": "Bearer " + encode_bearer(access_token), "Accept": "application/json"}
        try:
            response = self.session.get(
                endpoint, params={"request_id": request_id}, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise RelyingPartyError(f"account-info request failed: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body

    def complete_pairing(self, code: str, request_id: str) -> dict[str, Any]:
        """Everything ServiceTitan does after the form_post: steps 2 and 3 of the document.

        Account info comes from the id_token's ``accountInfo`` claim when present
        (then the endpoint is not called and ``request_id`` is reported as None),
        otherwise from the account-info endpoint.
        """
        tokens = self.exchange_code(code)
        claims = self.verify_id_token(tokens["id_token"])
        from_claim = parse_account_info(claims)
        token_response = {k: v for k, v in tokens.items() if k not in ("access_token", "refresh_token")}
        if from_claim is not None:
            account_info = {"source": "id_token", "status": None, "body": from_claim}
            request_id_used = None
        else:
            status, body = self.account_info(tokens["access_token"], request_id)
            account_info = {"source": "endpoint", "status": status, "body": body}
            request_id_used = request_id
        return {
            "request_id": request_id_used,
            "token_response": token_response,
            "claims": claims,
            "account_info": account_info,
        }

    # -- internals -----------------------------------------------------------

    def _get_json(self, url: str, what: str) -> Any:
        try:
            response = self.session.get(url, headers={"Accept": "application/json"}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise RelyingPartyError(f"{what} request failed: {exc}") from exc
        body = _json_or_text(response)
        if response.status_code != 200:
            raise RelyingPartyError(f"{what} answered {response.status_code}", status=response.status_code, body=body)
        return body

    def _fetch_jwks(self) -> jwk.JWKSet:
        body = self._get_json(self.discover()["jwks_uri"], "JWKS")
        try:
            self._jwks = jwk.JWKSet.from_json(json.dumps(body))
        except (JWException, ValueError, TypeError) as exc:
            raise RelyingPartyError(f"JWKS is not a valid key set: {exc}", body=body) from exc
        return self._jwks

    def _verification_key(self, alg: str, kid: Any) -> jwk.JWK:
        if alg == "HS256":
            secret = self.client_secret.encode("utf-8")
            if len(secret) < _HS256_MIN_SECRET_BYTES:
                raise RelyingPartyError(
                    f"client secret is {len(secret)} bytes; HS256 needs at least "
                    f"{_HS256_MIN_SECRET_BYTES} to be verifiable"
                )
            return jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii"))
        # A kid missing from the cached set means the provider rotated its keys:
        # fetch the set again, once, as production relying parties do.
        cached = self._jwks
        key = self._find_key(cached if cached is not None else self._fetch_jwks(), alg, kid)
        if key is None and cached is not None:
            key = self._find_key(self._fetch_jwks(), alg, kid)
        if key is None:
            raise RelyingPartyError(f"no {_KTY_FOR_ALG[alg]} key with kid {kid!r} in the JWKS")
        return key

    @staticmethod
    def _find_key(keyset: jwk.JWKSet, alg: str, kid: Any) -> jwk.JWK | None:
        candidates = [
            key
            for key in keyset
            if key.get("kty") == _KTY_FOR_ALG[alg]
            and key.get("use", "sig") == "sig"
            and key.get("alg", alg) == alg
            and (kid is None or key.get("kid") == kid)
        ]
        # Without a kid the choice is only unambiguous when one key fits.
        return candidates[0] if len(candidates) == 1 else None

    def _check_claims(self, claims: dict[str, Any]) -> None:
        if claims.get("iss") != self.issuer:
            raise RelyingPartyError(f"iss {claims.get('iss')!r} is not {self.issuer!r}", body=claims)
        aud = claims.get("aud")
        if not (aud == self.client_id or (isinstance(aud, list) and self.client_id in aud)):
            raise RelyingPartyError(f"aud {aud!r} does not name {self.client_id!r}", body=claims)
        exp = claims.get("exp")
        if not _is_number(exp):
            raise RelyingPartyError("exp is missing or not a number", body=claims)
        if exp <= self.clock():
            raise RelyingPartyError("id_token has expired", body=claims)
        if not _is_number(claims.get("iat")):
            raise RelyingPartyError("iat is missing or not a number", body=claims)
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise RelyingPartyError("sub is missing", body=claims)
