"""Behind a TLS-terminating proxy: X-Forwarded-* trusted for exactly the configured hops."""

from __future__ import annotations

import pytest

from oidc_provider.core.models import AccessToken, AuthorizationCode
from tests.conftest import _empty_tables, build_app
from tests.factories import Factories
from tests.flows import Flows

PUBLIC_HOST = "op.partner.example"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": PUBLIC_HOST, "X-Forwarded-For": "203.0.113.9"}


@pytest.fixture(scope="module")
def proxied_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("proxied")
    return build_app(
        f"sqlite:///{folder / 'proxied.sqlite'}",
        folder,
        ISSUER=f"https://{PUBLIC_HOST}",
        TRUSTED_PROXY_COUNT=1,
    )


@pytest.fixture
def behind_proxy(proxied_app):
    """A test client whose every request comes through one proxy that terminated TLS."""
    _empty_tables(proxied_app)
    web = proxied_app.test_client()
    web.environ_base.update({f"HTTP_{name.upper().replace('-', '_')}": value for name, value in FORWARDED.items()})
    return web


def test_without_trusted_proxies_a_forwarded_https_is_not_believed(web, make):
    make.directory()
    client = make.client()

    response = web.post(
        "/token",
        base_url=f"http://{PUBLIC_HOST}",
        headers=FORWARDED,
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "redirect_uri": client.redirect_uri,
        },
    )

    assert response.status_code == 400
    assert response.json == {"error": "insecure_transport", "error_description": "OAuth 2.0 requests must use https."}
    assert response.headers["Cache-Control"] == "no-store"
    assert make.count(AccessToken) == 0


def test_an_authorization_request_over_plain_http_is_refused_not_crashed_on(web):
    response = web.get("/authorize?client_id=x&response_type=code", base_url=f"http://{PUBLIC_HOST}")

    assert response.status_code == 400
    assert response.json["error"] == "insecure_transport"


def test_a_whole_pairing_works_through_a_trusted_proxy(proxied_app, behind_proxy):
    make = Factories(proxied_app)
    make.directory()
    client = make.client()
    flows = Flows(behind_proxy)

    tokens = flows.tokens(client)
    answer = flows.account_info(tokens["access_token"])

    assert answer.status_code == 200 and answer.json["Status"] == "COMPLETED"
    assert make.count(AuthorizationCode) == 1


def test_the_proxy_gives_the_tenant_address_and_scheme(behind_proxy, caplog):
    caplog.set_level("INFO", logger="oidc_provider.request")

    response = behind_proxy.get("/.well-known/openid-configuration")

    assert response.json["token_endpoint"] == f"https://{PUBLIC_HOST}/token"
    entry = [r for r in caplog.records if r.name == "oidc_provider.request"][-1]
    assert entry.data["remote_addr"] == "203.0.113.9"
    # https as the tenant sees it: HSTS is sent.
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_only_the_configured_number_of_hops_is_trusted(behind_proxy, caplog):
    caplog.set_level("INFO", logger="oidc_provider.request")

    # A client that sends its own X-Forwarded-For ahead of the proxy's cannot pick its address.
    behind_proxy.get("/healthz", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})

    entry = [r for r in caplog.records if r.name == "oidc_provider.request"][-1]
    assert entry.data["remote_addr"] == "203.0.113.9"
