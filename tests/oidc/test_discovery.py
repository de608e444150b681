"""Discovery and JWKS: what ServiceTitan's admin pastes as the Configuration Endpoint."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from oidc_provider import create_app

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


def discovery_of(tmp_path, **settings) -> dict:
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'unused.sqlite'}",
            "SECRET_KEY": "x",
            "ENCRYPTION_KEYS": ["A" * 43 + "="],
            **settings,
        }
    )
    response = app.test_client().get("/.well-known/openid-configuration")
    assert response.status_code == 200
    return response.json


def test_the_issuer_is_the_setting_exactly(web, clean_app):
    metadata = web.get("/.well-known/openid-configuration").json

    assert metadata["issuer"] == clean_app.config["ISSUER"] == "http://localhost"


@pytest.mark.parametrize("configured", ["https://op.partner.example/", "https://op.partner.example"])
def test_a_trailing_slash_in_the_setting_is_not_in_the_issuer(tmp_path, configured):
    metadata = discovery_of(tmp_path, ISSUER=configured)

    assert metadata["issuer"] == "https://op.partner.example"
    assert metadata["token_endpoint"] == "https://op.partner.example/token"


def test_the_issuer_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OIDC_PROVIDER_ISSUER", "https://partner.example/oidc/")

    metadata = discovery_of(tmp_path)

    assert metadata["issuer"] == "https://partner.example/oidc"
    assert metadata["authorization_endpoint"] == "https://partner.example/oidc/authorize"


def test_every_endpoint_is_absolute_under_the_issuer(tmp_path):
    metadata = discovery_of(tmp_path, ISSUER="https://partner.example/oidc")

    urls = {k: v for k, v in metadata.items() if k.endswith(("_endpoint", "_uri"))}
    assert set(urls) == {
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "account_info_endpoint",
    }
    for url in urls.values():
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("https", "partner.example")
        assert url.startswith("https://partner.example/oidc/")


def test_the_metadata_has_the_documented_values(web):
    response = web.get("/.well-known/openid-configuration")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    metadata = response.json
    assert metadata["authorization_endpoint"] == "http://localhost/authorize"
    assert metadata["token_endpoint"] == "http://localhost/token"
    assert metadata["userinfo_endpoint"] == "http://localhost/userinfo"
    assert metadata["jwks_uri"] == "http://localhost/jwks.json"
    assert metadata["account_info_endpoint"] == "http://localhost/account-info"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["response_modes_supported"] == ["form_post", "query"]
    assert metadata["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert metadata["subject_types_supported"] == ["public"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256", "ES256", "HS256"]
    assert metadata["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["scopes_supported"] == ["openid", "profile", "email"]
    assert {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "accountInfo"} <= set(metadata["claims_supported"])


def test_discovery_announces_the_iss_authorization_response_parameter(web):
    metadata = web.get("/.well-known/openid-configuration").json

    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_authorization_server_metadata_is_served_where_rfc_8414_looks(web):
    response = web.get("/.well-known/oauth-authorization-server")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.json == web.get("/.well-known/openid-configuration").json
    assert response.json["issuer"] == "http://localhost"
    assert response.cache_control.max_age == 300


def test_every_endpoint_discovery_names_is_served(web):
    metadata = web.get("/.well-known/openid-configuration").json

    def path(key):
        return urlsplit(metadata[key]).path

    assert web.get(path("jwks_uri")).status_code == 200
    assert web.post(path("token_endpoint")).status_code in (400, 401)
    assert web.get(path("userinfo_endpoint")).status_code == 401
    assert web.get(path("account_info_endpoint")).status_code == 401
    assert web.get(path("authorization_endpoint")).status_code == 400


def test_discovery_and_jwks_may_be_cached_briefly(web):
    for path in ("/.well-known/openid-configuration", "/jwks.json"):
        response = web.get(path)
        assert response.cache_control.public
        assert response.cache_control.max_age == 300


def test_jwks_serves_public_keys_only_each_with_its_kid(fresh_signing_keys, web):
    response = web.get("/jwks.json")

    assert response.status_code == 200
    published = response.json["keys"]
    assert sorted(k["alg"] for k in published) == ["ES256", "RS256"]
    for key in published:
        assert key["kid"]
        assert key["use"] == "sig"
        assert key["kty"] == {"RS256": "RSA", "ES256": "EC"}[key["alg"]]
        assert not PRIVATE_MEMBERS & set(key)
    assert len({k["kid"] for k in published}) == len(published)
