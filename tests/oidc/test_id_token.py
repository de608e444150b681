"""The id_token, verified as ServiceTitan would: with jwcrypto (not Authlib) against our JWKS,
or with the client secret for an HS256 client."""

from __future__ import annotations

import base64
import json

import pytest
from jwcrypto import jwk, jws, jwt
from sqlalchemy import select

from oidc_provider.core.extensions import db
from oidc_provider.core.models import TenantUser
from oidc_provider.oidc.client_registry import find_client, rotate_secret
from tests.factories import RegisteredClient
from tests.flows import Flows


def jwks(web) -> jwk.JWKSet:
    response = web.get("/jwks.json")
    assert response.status_code == 200
    return jwk.JWKSet.from_json(response.get_data(as_text=True))


def header_of(token: str) -> dict:
    segment = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def verify(token: str, key, alg: str) -> dict:
    """The claims of ``token`` once its signature checks out with ``key`` and ``alg``."""
    verified = jwt.JWT(jwt=token, key=key, algs=[alg], expected_type="JWS")
    return json.loads(verified.claims)


def verify_with_jwks(web, token: str, alg: str) -> dict:
    keys = jwks(web)
    header = header_of(token)
    assert header["alg"] == alg
    key = keys.get_key(header["kid"])
    assert key is not None, "the kid names no key in /jwks.json"
    assert key.get("alg") == alg
    assert not key.has_private
    return verify(token, keys, alg)


def secret_key(secret: str) -> jwk.JWK:
    return jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(secret.encode()).rstrip(b"=").decode())


def subject_of(app, email: str) -> str:
    with app.app_context():
        return db.session.scalar(select(TenantUser.subject).where(TenantUser.email == email))


@pytest.fixture
def directory(make):
    return make.directory()


# -- signature and standard claims ------------------------------------------------------


def test_rs256_id_token_verifies_against_jwks_with_exact_claims(flows, web, make, clean_app, frozen_clock, directory):
    client = make.client()
    signed_in_at = int(frozen_clock.now().timestamp())
    code = flows.code(client)
    frozen_clock.advance(5)

    tokens = flows.exchange(client, code).json
    claims = verify_with_jwks(web, tokens["id_token"], "RS256")

    issuer = web.get("/.well-known/openid-configuration").json["issuer"]
    assert claims["iss"] == issuer == clean_app.config["ISSUER"] == "http://localhost"
    assert claims["aud"] == client.client_id
    assert claims["iat"] == signed_in_at + 5
    assert claims["exp"] == claims["iat"] + clean_app.config["ID_TOKEN_LIFETIME"] == claims["iat"] + 3600
    assert claims["auth_time"] == signed_in_at
    assert claims["sub"] == subject_of(clean_app, "owner@mtech.example")
    assert (claims["name"], claims["email"]) == ("Owner", "owner@mtech.example")
    assert "nonce" not in claims
    assert "accountInfo" not in claims


def test_es256_client_gets_an_es256_id_token_with_a_published_kid(flows, web, make, directory):
    client = make.client(id_token_alg="ES256")

    tokens = flows.tokens(client)

    assert header_of(tokens["id_token"])["alg"] == "ES256"
    claims = verify_with_jwks(web, tokens["id_token"], "ES256")
    assert claims["aud"] == client.client_id
    assert jwks(web).get_key(header_of(tokens["id_token"])["kid"]).get("kty") == "EC"


def test_a_token_with_one_byte_changed_is_rejected(flows, web, make, directory):
    token = flows.tokens(make.client())["id_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["aud"] = claims["aud"][:-1] + ("A" if claims["aud"][-1] != "A" else "B")
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    key = jwks(web).get_key(header_of(token)["kid"])
    assert verify(token, key, "RS256")["aud"]

    with pytest.raises(jws.InvalidJWSSignature):
        verify(f"{header}.{forged_payload}.{signature}", key, "RS256")


def test_nonce_is_returned_when_sent(flows, web, make, directory):
    tokens = flows.tokens(make.client(), nonce="n-0S6_WzA2Mj")

    assert verify_with_jwks(web, tokens["id_token"], "RS256")["nonce"] == "n-0S6_WzA2Mj"


def test_claims_follow_the_granted_scope(flows, web, make, directory):
    tokens = flows.tokens(make.client(scope="openid"))

    claims = verify_with_jwks(web, tokens["id_token"], "RS256")

    assert not {"name", "email", "email_verified"} & set(claims)


# -- sub --------------------------------------------------------------------------------


def test_sub_is_opaque_stable_per_user_and_different_between_users(flows, web, make, clean_app, directory):
    servicetitan, other_client = make.client(), make.client(name="Another environment")
    owner_subs = {
        verify_with_jwks(web, flows.tokens(servicetitan)["id_token"], "RS256")["sub"],
        verify_with_jwks(web, flows.tokens(servicetitan)["id_token"], "RS256")["sub"],
        verify_with_jwks(web, flows.tokens(other_client)["id_token"], "RS256")["sub"],
    }
    manager = Flows(clean_app.test_client())
    manager_sub = verify_with_jwks(
        web, manager.tokens(servicetitan, email="manager@mtech.example", account_id="acct-hvac")["id_token"], "RS256"
    )["sub"]

    assert len(owner_subs) == 1
    owner_sub = owner_subs.pop()
    assert owner_sub != manager_sub
    for sub, email in ((owner_sub, "owner@mtech.example"), (manager_sub, "manager@mtech.example")):
        assert email not in sub and "@" not in sub
        assert sub == subject_of(clean_app, email)


# -- HS256 ------------------------------------------------------------------------------


def test_hs256_id_token_is_signed_with_the_client_secret(flows, make, directory):
    client = make.client(id_token_alg="HS256")

    token = flows.tokens(client)["id_token"]

    assert header_of(token)["alg"] == "HS256"
    claims = verify(token, secret_key(client.client_secret), "HS256")
    assert claims["aud"] == client.client_id
    with pytest.raises(jws.InvalidJWSSignature):
        verify(token, secret_key(client.client_secret + "x"), "HS256")


def test_hs256_id_token_is_signed_with_the_secret_that_authenticated(flows, make, clean_app, directory):
    old = make.client(id_token_alg="HS256")
    with clean_app.app_context():
        new_secret = rotate_secret(find_client(old.client_id), grace_seconds=600)
    new = RegisteredClient(old.client_id, new_secret, old.redirect_uri, old.scope)

    with_old = flows.tokens(old)["id_token"]
    with_new = flows.tokens(new)["id_token"]

    assert verify(with_old, secret_key(old.client_secret), "HS256")["aud"] == old.client_id
    assert verify(with_new, secret_key(new_secret), "HS256")["aud"] == old.client_id
    with pytest.raises(jws.InvalidJWSSignature):
        verify(with_old, secret_key(new_secret), "HS256")


# -- accountInfo ------------------------------------------------------------------------

HVAC = {
    "Status": "COMPLETED",
    "Account": {
        "Id": "acct-hvac",
        "Name": "MTech HVAC",
        "Profiles": [{"Id": "p-north", "Name": "North"}, {"Id": "p-south", "Name": "South"}],
    },
}
PLUMBING = {
    "Status": "COMPLETED",
    "Account": {"Id": "acct-plumbing", "Name": "MTech Plumbing", "Profiles": [{"Id": "p-main", "Name": "Main"}]},
}
DECLINED = {"Status": "DECLINED"}


@pytest.mark.parametrize(
    ("email", "account_id", "expected"),
    [
        ("owner@mtech.example", None, HVAC),
        ("manager@mtech.example", "acct-plumbing", PLUMBING),
        ("manager@mtech.example", "acct-closed", DECLINED),
        ("closed@mtech.example", None, DECLINED),
    ],
    ids=["owner", "manager-plumbing", "manager-closed", "closed-only"],
)
def test_account_info_claim_is_a_json_string_with_pascal_case_keys(
    flows, web, make, directory, email, account_id, expected
):
    client = make.client(account_info_claim=True)

    tokens = flows.tokens(client, email=email, account_id=account_id)
    claim = verify_with_jwks(web, tokens["id_token"], "RS256")["accountInfo"]

    assert isinstance(claim, str)
    assert json.loads(claim) == expected
    assert claim == json.dumps(expected, separators=(",", ":"))


def test_account_info_claim_is_also_in_an_hs256_id_token(flows, make, directory):
    client = make.client(account_info_claim=True, id_token_alg="HS256")

    token = flows.tokens(client)["id_token"]

    assert json.loads(verify(token, secret_key(client.client_secret), "HS256")["accountInfo"]) == HVAC


@pytest.mark.parametrize(
    ("email", "account_id"), [("owner@mtech.example", None), ("manager@mtech.example", "acct-closed")]
)
def test_no_account_info_claim_without_the_client_setting(flows, web, make, directory, email, account_id):
    tokens = flows.tokens(make.client(), email=email, account_id=account_id)

    assert "accountInfo" not in verify_with_jwks(web, tokens["id_token"], "RS256")
