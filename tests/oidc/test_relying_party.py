"""The ServiceTitan stand-in relying party, against a fake provider on a real socket.

No Authlib and no real provider here: if the stand-in is wrong, the provider's
end-to-end tests would be checking the provider against a wrong ServiceTitan.
Literal values come from the platform document's examples where it has them.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from jwcrypto import jwk, jws
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from st_sandbox.relying_party import (
    RelyingParty,
    RelyingPartyError,
    encode_bearer,
    parse_account_info,
)

NOW = 1_639_512_382  # the document's example iat
CLIENT_ID = "84c96450-541f-4c94-9737-496173226d19"  # the document's example aud
CLIENT_SECRET = "sandbox-client-secret-0123456789abcdef"  # 38 bytes: enough for HS256
REDIRECT_URI = "https://servicetitan.example/callback"
SUB = "rt67855b-7ed5-4556-8ff5-e15117b75ffd"
ACCESS_TOKEN = "zNLXAACWfCOb859MBGR12x4I67tWJB7y6eUQVdQT8zsLabBk8R"
# The document's example header for ACCESS_TOKEN, with its typo `zV` corrected to `ZV`.
DOCUMENTED_BEARER = "ek5MWEFBQ1dmQ09iODU5TUJHUjEyeDRJNjd0V0pCN3k2ZVVRVmRRVDh6c0xhYkJrOFI="
ACCOUNT = {"Id": "AccountId1", "Name": "AccountName1", "Profiles": [{"Id": "profileId1", "Name": "Name1"}]}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    args: list[tuple[str, str]]
    form: list[tuple[str, str]]


class FakeProvider:
    """Discovery, JWKS, token and account-info endpoints that answer what a test sets."""

    def __init__(self, signing_keys: list[jwk.JWK]) -> None:
        self.server = make_server("127.0.0.1", 0, Request.application(self._handle), threaded=True)
        self.issuer = f"http://127.0.0.1:{self.server.port}"
        self.all_keys = signing_keys
        self.reset()

    def reset(self) -> None:
        self.metadata: dict[str, Any] = {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "account_info_endpoint": self.issuer + "/account-info",
        }
        self.published_keys = list(self.all_keys)
        self.jwks_fetches = 0
        self.token_status = 200
        self.token_body: dict[str, Any] = {}
        self.account_info_body: dict[str, Any] = {"Status": "COMPLETED", "RequestId": "", "Account": ACCOUNT}
        self.requests: list[Recorded] = []

    def _handle(self, request: Request) -> Response:
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.headers),
                list(request.args.items(multi=True)),
                list(request.form.items(multi=True)),
            )
        )
        match request.path:
            case "/.well-known/openid-configuration":
                return _json(self.metadata)
            case "/jwks":
                self.jwks_fetches += 1
                return _json({"keys": [key.export_public(as_dict=True) for key in self.published_keys]})
            case "/token":
                return _json(self.token_body, self.token_status)
            case "/account-info":
                return _json(self.account_info_body)
        return _json({"error": "not_found"}, 404)

    def last(self, path: str) -> Recorded:
        return [r for r in self.requests if r.path == path][-1]


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


@pytest.fixture(scope="module")
def keys() -> dict[str, jwk.JWK]:
    return {
        "RS256": jwk.JWK.generate(kty="RSA", size=2048, kid="rsa-1", use="sig", alg="RS256"),
        "ES256": jwk.JWK.generate(kty="EC", crv="P-256", kid="ec-1", use="sig", alg="ES256"),
        "rotated": jwk.JWK.generate(kty="RSA", size=2048, kid="rsa-2", use="sig", alg="RS256"),
        "HS256": jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(CLIENT_SECRET.encode()).rstrip(b"=").decode()),
    }


@pytest.fixture(scope="module")
def server(keys: dict[str, jwk.JWK]) -> Iterator[FakeProvider]:
    provider = FakeProvider([keys["RS256"], keys["ES256"], keys["rotated"]])
    thread = threading.Thread(target=provider.server.serve_forever, daemon=True)
    thread.start()
    yield provider
    provider.server.shutdown()
    thread.join()


@pytest.fixture
def op(server: FakeProvider) -> FakeProvider:
    server.reset()
    return server


@pytest.fixture
def rp(op: FakeProvider) -> RelyingParty:
    return RelyingParty(op.issuer, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, clock=lambda: NOW)


def claims_for(op: FakeProvider, **overrides: Any) -> dict[str, Any]:
    claims = {"iss": op.issuer, "sub": SUB, "aud": CLIENT_ID, "iat": NOW, "exp": NOW + 3600}
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(claims: dict[str, Any], key: jwk.JWK, alg: str) -> str:
    header = {"alg": alg, "typ": "JWT"}
    if key.get("kid"):
        header["kid"] = key["kid"]
    token = jws.JWS(json.dumps(claims).encode())
    token.add_signature(key, alg=alg, protected=header)
    return token.serialize(compact=True)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- discovery ----------------------------------------------------------------


def test_discovery_is_fetched_once_and_cached(rp: RelyingParty, op: FakeProvider) -> None:
    assert rp.discover()["issuer"] == op.issuer
    rp.discover()
    assert [r.path for r in op.requests] == ["/.well-known/openid-configuration"]


@pytest.mark.parametrize("issuer_suffix", ["/", "/other"])
def test_discovery_with_a_different_issuer_is_rejected(rp: RelyingParty, op: FakeProvider, issuer_suffix: str) -> None:
    op.metadata["issuer"] = op.issuer + issuer_suffix
    with pytest.raises(RelyingPartyError, match="issuer"):
        rp.discover()


@pytest.mark.parametrize("field", ["authorization_endpoint", "token_endpoint", "jwks_uri", "account_info_endpoint"])
def test_discovery_with_a_relative_endpoint_is_rejected(rp: RelyingParty, op: FakeProvider, field: str) -> None:
    op.metadata[field] = "/relative"
    with pytest.raises(RelyingPartyError, match=field):
        rp.discover()


# -- authorization request ------------------------------------------------------


def test_authorization_url_carries_exactly_the_documented_parameters(rp: RelyingParty, op: FakeProvider) -> None:
    url = urlsplit(rp.authorization_url("gy0ifjsldkj"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == op.metadata["authorization_endpoint"]
    params = parse_qsl(url.query)
    assert params == [
        ("client_id", CLIENT_ID),
        ("response_type", "code"),
        ("response_mode", "form_post"),
        ("scope", "openid"),
        ("state", "gy0ifjsldkj"),
        ("redirect_uri", REDIRECT_URI),
    ]
    assert not {"nonce", "code_challenge", "code_challenge_method"} & {name for name, _ in params}


def test_authorization_url_can_leave_response_mode_out(op: FakeProvider) -> None:
    rp = RelyingParty(op.issuer, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, send_response_mode=False)
    names = [name for name, _ in parse_qsl(urlsplit(rp.authorization_url("s")).query)]
    assert names == ["client_id", "response_type", "scope", "state", "redirect_uri"]


def test_scope_always_starts_with_openid(op: FakeProvider) -> None:
    rp = RelyingParty(op.issuer, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, scope="profile openid")
    assert dict(parse_qsl(urlsplit(rp.authorization_url("s")).query))["scope"] == "openid profile"


# -- token request --------------------------------------------------------------


def test_token_request_sends_the_credentials_in_the_header_and_the_body(op: FakeProvider) -> None:
    # The document's example credentials, whose Basic header it prints.
    rp = RelyingParty(op.issuer, "s6BhdRkqN3", "gX1fBat3bV", "https://servicetitan.com/callback")
    op.token_body = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600, "id_token": "x.y.z"}

    assert rp.exchange_code("SplxlOBeZQQYbYS6WxSbIA") == op.token_body

    sent = op.last("/token")
    assert sent.method == "POST"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.headers["Authorization"] == "Basic czZCaGRSa3FOMzpnWDFmQmF0M2JW"
    assert sorted(sent.form) == sorted(
        [
            ("grant_type", "authorization_code"),
            ("code", "SplxlOBeZQQYbYS6WxSbIA"),
            ("redirect_uri", "https://servicetitan.com/callback"),
            ("client_id", "s6BhdRkqN3"),
            ("client_secret", "gX1fBat3bV"),
        ]
    )
    basic_id, basic_secret = base64.b64decode(sent.headers["Authorization"].removeprefix("Basic ")).decode().split(":")
    form = dict(sent.form)
    assert (basic_id, basic_secret) == (form["client_id"], form["client_secret"])


def test_token_error_carries_status_and_body(rp: RelyingParty, op: FakeProvider) -> None:
    op.token_status, op.token_body = 400, {"error": "invalid_grant"}
    with pytest.raises(RelyingPartyError) as raised:
        rp.exchange_code("used-code")
    assert (raised.value.status, raised.value.body) == (400, {"error": "invalid_grant"})


# -- account info ---------------------------------------------------------------


def test_account_info_sends_the_documented_base64_bearer(rp: RelyingParty, op: FakeProvider) -> None:
    status, body = rp.account_info(ACCESS_TOKEN, "FghxlOBeZQQYbYS6WxSbUO")
    sent = op.last("/account-info")
    assert sent.method == "GET"
    assert sent.headers["Authorization"] == "Bearer " + DOCUMENTED_BEARER
    assert sent.args == [("request_id", "FghxlOBeZQQYbYS6WxSbUO")]
    assert (status, body) == (200, op.account_info_body)


@pytest.mark.parametrize(
    ("token", "bearer"),
    [("??>>", "Pz8+Pg=="), ("~~~~", "fn5+fg=="), ("été?>", "w6l0w6k/Pg==")],
)
def test_bearer_is_standard_padded_base64_of_utf8(token: str, bearer: str) -> None:
    assert encode_bearer(token) == bearer


# -- id_token -------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256", "HS256"])
def test_id_token_verifies(rp: RelyingParty, op: FakeProvider, keys: dict[str, jwk.JWK], alg: str) -> None:
    claims = claims_for(op)
    assert rp.verify_id_token(sign(claims, keys[alg], alg)) == claims


def test_aud_may_be_a_list_naming_the_client(rp: RelyingParty, op: FakeProvider, keys: dict[str, jwk.JWK]) -> None:
    claims = claims_for(op, aud=["someone-else", CLIENT_ID])
    assert rp.verify_id_token(sign(claims, keys["RS256"], "RS256")) == claims


@pytest.mark.parametrize("alg", ["RS256", "ES256", "HS256"])
@pytest.mark.parametrize("part", [1, 2], ids=["payload", "signature"])
def test_one_changed_byte_is_rejected(
    rp: RelyingParty, op: FakeProvider, keys: dict[str, jwk.JWK], alg: str, part: int
) -> None:
    segments = sign(claims_for(op), keys[alg], alg).split(".")
    raw = bytearray(unb64url(segments[part]))
    raw[len(raw) // 2] ^= 0x01  # in the middle, never in base64's unused trailing bits
    segments[part] = b64url(bytes(raw))
    with pytest.raises(RelyingPartyError, match="signature"):
        rp.verify_id_token(".".join(segments))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iss": "https://example.com"}, "iss"),
        ({"aud": "another-client"}, "aud"),
        ({"aud": ["another-client"]}, "aud"),
        ({"exp": NOW}, "expired"),
        ({"exp": NOW - 1}, "expired"),
        ({"exp": None}, "exp"),
        ({"iat": None}, "iat"),
        ({"sub": None}, "sub"),
    ],
)
def test_bad_claims_are_rejected(
    rp: RelyingParty, op: FakeProvider, keys: dict[str, jwk.JWK], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(RelyingPartyError, match=message):
        rp.verify_id_token(sign(claims_for(op, **overrides), keys["RS256"], "RS256"))


def test_issuer_with_a_trailing_slash_is_rejected(rp: RelyingParty, op: FakeProvider, keys: dict[str, jwk.JWK]) -> None:
    with pytest.raises(RelyingPartyError, match="iss"):
        rp.verify_id_token(sign(claims_for(op, iss=op.issuer + "/"), keys["RS256"], "RS256"))


@pytest.mark.parametrize("alg", ["none", "None", "HS512", "RS384", "PS256"])
def test_other_algorithms_are_rejected(rp: RelyingParty, op: FakeProvider, alg: str) -> None:
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims_for(op)).encode())
    with pytest.raises(RelyingPartyError, match="alg"):
        rp.verify_id_token(f"{header}.{payload}.")


def test_hs256_keyed_with_the_public_key_is_rejected(
    rp: RelyingParty, op: FakeProvider, keys: dict[str, jwk.JWK]
) -> None:
    """The algorithm-confusion attack: HS256 is only ever keyed with the client secret."""
    public_pem = keys["RS256"].export_to_pem()
    confused = jwk.JWK(kty="oct", k=b64url(public_pem), kid="rsa-1")
    with pytest.raises(RelyingPartyError, match="signature"):
        rp.verify_id_token(sign(claims_for(op), confused, "HS256"))


def test_hs256_with_a_short_client_secret_is_explained(op: FakeProvider, keys: dict[str, jwk.JWK]) -> None:
    """jwcrypto refuses HMAC keys under 256 bits; say so instead of "bad signature"."""
    rp = RelyingParty(op.issuer, CLIENT_ID, "gX1fBat3bV", REDIRECT_URI, clock=lambda: NOW)
    with pytest.raises(RelyingPartyError, match="at least 32"):
        rp.verify_id_token(sign(claims_for(op), keys["HS256"], "HS256"))


def test_unknown_kid_refetches_the_jwks_once(rp: RelyingParty, op: FakeProvider, keys: dict[str, jwk.JWK]) -> None:
    op.published_keys = [keys["RS256"]]
    rp.verify_id_token(sign(claims_for(op), keys["RS256"], "RS256"))
    op.published_keys = [keys["RS256"], keys["rotated"]]

    claims = claims_for(op)
    assert rp.verify_id_token(sign(claims, keys["rotated"], "RS256")) == claims
    assert op.jwks_fetches == 2
    rp.verify_id_token(sign(claims, keys["rotated"], "RS256"))
    assert op.jwks_fetches == 2


def test_kid_missing_after_refetch_is_rejected(rp: RelyingParty, op: FakeProvider, keys: dict[str, jwk.JWK]) -> None:
    op.published_keys = [keys["ES256"]]
    rp.verify_id_token(sign(claims_for(op), keys["ES256"], "ES256"))
    with pytest.raises(RelyingPartyError, match="kid"):
        rp.verify_id_token(sign(claims_for(op), keys["RS256"], "RS256"))
    assert op.jwks_fetches == 2


# -- accountInfo and the whole back channel ---------------------------------------


def test_account_info_claim_is_a_json_string() -> None:
    assert parse_account_info({"accountInfo": json.dumps({"Status": "COMPLETED", "Account": ACCOUNT})}) == {
        "Status": "COMPLETED",
        "Account": ACCOUNT,
    }
    assert parse_account_info({}) is None
    with pytest.raises(RelyingPartyError, match="string"):
        parse_account_info({"accountInfo": {"Status": "COMPLETED"}})
    # The document's own example has trailing commas, which is not JSON.
    with pytest.raises(RelyingPartyError, match="JSON"):
        parse_account_info({"accountInfo": '{"Status":"COMPLETED","Account":{"Profiles":[{"Id":"1",},]}}'})


def test_pairing_asks_account_info_unless_the_id_token_answered(
    rp: RelyingParty, op: FakeProvider, keys: dict[str, jwk.JWK]
) -> None:
    tokens = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600}
    op.token_body = {**tokens, "id_token": sign(claims_for(op), keys["HS256"], "HS256")}
    result = rp.complete_pairing("code-1", "request-1")
    assert result["request_id"] == "request-1"
    assert result["account_info"] == {"source": "endpoint", "status": 200, "body": op.account_info_body}
    assert "access_token" not in result["token_response"]

    account_info = {"Status": "COMPLETED", "Account": ACCOUNT}
    claims = claims_for(op, accountInfo=json.dumps(account_info))
    op.token_body = {**tokens, "id_token": sign(claims, keys["ES256"], "ES256")}
    op.requests.clear()
    result = rp.complete_pairing("code-2", "request-2")
    assert result["request_id"] is None
    assert result["account_info"] == {"source": "id_token", "status": None, "body": account_info}
    assert "/account-info" not in [r.path for r in op.requests]
