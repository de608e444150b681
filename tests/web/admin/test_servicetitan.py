"""The ServiceTitan setup sheet: every value we give, each with the ServiceTitan field it
belongs in; every value we receive, each with its form and its rules."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from oidc_provider.core.encryption import decrypt
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Client, ExtraDetailParameter, ServiceTitanEnvironment, WebhookSigningKey
from tests.web.admin.test_clients import field_error


@pytest.fixture
def client(make):
    return make.client(name="ServiceTitan", scope="openid profile email")


@pytest.fixture
def sheet_path(client) -> str:
    return f"/admin/clients/{client.client_id}/servicetitan"


def value(page: str, element_id: str) -> str | None:
    match = re.search(rf'<code id="{element_id}" class="value[^"]*">([^<]*)</code>', page)
    return match and html.unescape(match.group(1))


def described(page: str, element_id: str) -> str:
    """The text of the ``<dd>`` that holds a value: its value, copy button and field note."""
    start = page.index(f'id="{element_id}"')
    return re.sub(r"<[^>]+>", "", page[start : page.index("</dd>", start)])


def test_what_we_give_each_with_its_servicetitan_field(console, client, sheet_path):
    page = console.get(sheet_path)

    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    text = page.text
    assert value(text, "value-configuration-endpoint") == "http://localhost/.well-known/openid-configuration"
    assert value(text, "value-client-id") == client.client_id
    assert value(text, "value-scopes") == "openid profile email"
    assert value(text, "value-client-secret") is None
    assert "Rotate the secret" in text
    for element_id, field in (
        ("value-configuration-endpoint", "Configuration Endpoint"),
        ("value-client-id", "Client ID"),
        ("value-scopes", "Scopes"),
        ("value-partner-pairing-url", "Partner Pairing URL"),
        ("value-webhook-url", "WebHook URL"),
    ):
        assert f"ServiceTitan field: {field}" in described(text, element_id), element_id
    assert 'data-copy="value-client-id"' in text and 'aria-label="Copy Client ID"' in text


def test_every_endpoint_by_name_and_account_info_goes_to_the_partner_manager(console, sheet_path):
    text = console.get(sheet_path).text

    endpoints = {
        "Authorization endpoint": "http://localhost/authorize",
        "Token endpoint": "http://localhost/token",
        "UserInfo endpoint": "http://localhost/userinfo",
        "JWKS (public signing keys)": "http://localhost/jwks.json",
        "Account-info endpoint": "http://localhost/account-info",
    }
    for index, (name, url) in enumerate(endpoints.items(), start=1):
        assert f"<dt>{name}</dt>" in text
        assert value(text, f"value-endpoint-{index}") == url
    account_info = described(text, "value-endpoint-5")
    assert "No field in ServiceTitan's screen." in html.unescape(account_info)
    assert "Send this URL to your ServiceTitan partner manager." in account_info
    assert "ServiceTitan field: Configuration Endpoint" in described(text, "value-endpoint-1")


def test_the_endpoints_are_the_discovery_documents(console, web, sheet_path):
    discovery = web.get("/.well-known/openid-configuration").json
    text = console.get(sheet_path).text

    for index, key in enumerate(
        ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "account_info_endpoint"), start=1
    ):
        assert value(text, f"value-endpoint-{index}") == discovery[key]


def test_pairing_url_and_webhook_prefix_follow_their_settings(clean_app, console, sheet_path, monkeypatch):
    text = console.get(sheet_path).text
    assert value(text, "value-partner-pairing-url") == "http://localhost/st/pair"
    # The client is the sandbox's (the default environment of tests): the sandbox's URL.
    assert value(text, "value-webhook-url") == "http://localhost/servicetitan/webhooks/sandbox"

    monkeypatch.setitem(clean_app.config, "CUSTOM_PAIRING_PATH", "/pair/servicetitan")
    monkeypatch.setitem(clean_app.config, "WEBHOOK_PREFIX", "/hooks/st")
    text = console.get(sheet_path).text
    assert value(text, "value-partner-pairing-url") == "http://localhost/pair/servicetitan"
    assert value(text, "value-webhook-url") == "http://localhost/hooks/st/sandbox"


def test_an_unknown_client_has_no_sheet(console):
    assert console.get("/admin/clients/nope/servicetitan").status_code == 404


# -- General Information ------------------------------------------------------------------------


def stored_client(app, client_id) -> Client:
    with app.app_context():
        row = db.session.scalar(select(Client).where(Client.client_id == client_id))
        db.session.expunge(row)
        return row


def test_the_callback_url_becomes_the_redirect_uri(clean_app, console, client, sheet_path):
    response = console.post(
        sheet_path + "/general",
        {
            "callback_url": "https://go.servicetitan.com/callback",
            "servicetitan_environment": "production",
            "multi_account_support": "on",
        },
    )

    assert response.status_code == 302
    assert response.headers["Location"] == sheet_path + "#general"
    row = stored_client(clean_app, client.client_id)
    assert (row.redirect_uris, row.servicetitan_environment, row.multi_account_support) == (
        ["https://go.servicetitan.com/callback"],
        "production",
        True,
    )
    page = console.get(sheet_path).text
    assert 'value="https://go.servicetitan.com/callback"' in page
    assert "ServiceTitan API credentials (production)" in page


@pytest.mark.parametrize(
    ("form", "field_id", "message"),
    [
        ({"callback_url": ""}, "general-callback_url", "paste the Callback URL that ServiceTitan shows"),
        (
            {"callback_url": "http://go.servicetitan.com/cb"},
            "general-callback_url",
            "'http://go.servicetitan.com/cb' must use https (http is only for loopback addresses)",
        ),
        ({"servicetitan_environment": "staging"}, "general-servicetitan_environment", "choose sandbox or production"),
    ],
)
def test_general_information_is_checked(clean_app, console, client, sheet_path, form, field_id, message):
    response = console.post(
        sheet_path + "/general",
        {
            "callback_url": "https://go.servicetitan.com/callback",
            "servicetitan_environment": "sandbox",
            **form,
        },
    )

    assert response.status_code == 422
    assert html.unescape(field_error(response.text, field_id)) == message
    assert stored_client(clean_app, client.client_id).redirect_uris == [client.redirect_uri]


def test_a_logo_uploaded_on_the_sheet(clean_app, console, client, sheet_path):
    import io

    from tests.console import PNG

    refused = console.post(
        f"/admin/clients/{client.client_id}/logo",
        {"logo": (io.BytesIO(b"GIF89a"), "logo.png")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert field_error(refused.text, "logo-logo") == "the file is named .png but its content is not a PNG image"
    missing = console.post(f"/admin/clients/{client.client_id}/logo", {}, content_type="multipart/form-data")
    assert field_error(missing.text, "logo-logo") == "choose a .jpeg, .png, .jpg or .svg file"

    saved = console.post(
        f"/admin/clients/{client.client_id}/logo",
        {"logo": (io.BytesIO(PNG), "logo.png")},
        content_type="multipart/form-data",
    )
    assert saved.status_code == 302
    with clean_app.app_context():
        assert db.session.scalar(select(Client.logo).where(Client.client_id == client.client_id)) == PNG
    assert f'src="/admin/clients/{client.client_id}/logo"' in console.get(sheet_path).text


# -- ServiceTitan's API credentials --------------------------------------------------------------


def environment(app, name) -> ServiceTitanEnvironment | None:
    with app.app_context():
        row = db.session.get(ServiceTitanEnvironment, name)
        if row is not None:
            db.session.expunge(row)
        return row


def test_api_credentials_are_saved_encrypted_and_never_shown(clean_app, console, sheet_path):
    response = console.post(
        sheet_path + "/credentials", {"api_client_id": "st-api-client", "api_client_secret": "st-api-secret-value"}
    )

    assert response.status_code == 302
    row = environment(clean_app, "sandbox")
    assert row.client_id == "st-api-client"
    with clean_app.app_context():
        assert decrypt(row.client_secret_encrypted) == "st-api-secret-value"
    page = console.get(sheet_path).text
    assert "st-api-secret-value" not in page
    assert "A secret is saved; leave this empty to keep it." in page

    # An empty secret keeps the saved one.
    console.post(sheet_path + "/credentials", {"api_client_id": "st-api-client-2", "api_client_secret": ""})
    row = environment(clean_app, "sandbox")
    with clean_app.app_context():
        assert (row.client_id, decrypt(row.client_secret_encrypted)) == ("st-api-client-2", "st-api-secret-value")


@pytest.mark.parametrize(
    ("form", "field_id", "message"),
    [
        (
            {"api_client_id": ""},
            "credentials-api_client_id",
            "paste the client id that ServiceTitan issued for its Leads API",
        ),
        (
            {"api_client_secret": ""},
            "credentials-api_client_secret",
            "paste the client secret that ServiceTitan issued with it",
        ),
        (
            {"identity_url": "ftp://identity.example"},
            "credentials-identity_url",
            "'ftp://identity.example' must be an absolute https URL; or leave it empty to keep the current one",
        ),
        (
            {"api_url": "http://api.servicetitan.example"},
            "credentials-api_url",
            "'http://api.servicetitan.example' must use https (http is only for loopback addresses); "
            "or leave it empty to keep the current one",
        ),
    ],
)
def test_api_credentials_are_checked(clean_app, console, sheet_path, form, field_id, message):
    response = console.post(sheet_path + "/credentials", {"api_client_id": "st", "api_client_secret": "secret", **form})

    assert response.status_code == 422
    assert html.unescape(field_error(response.text, field_id)) == message
    assert environment(clean_app, "sandbox") is None
    # A refused form never sends a typed secret back to the browser.
    assert re.findall(r'id="credentials-api_client_secret"[^>]*value="([^"]*)"', response.text) == [""]


# -- the webhook signing key ----------------------------------------------------------------------


def valid_keys(app) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.scalars(
            select(WebhookSigningKey).where(WebhookSigningKey.retired_at.is_(None)).order_by(WebhookSigningKey.id)
        ).all()
        return [(row.source, decrypt(row.key_encrypted)) for row in rows]


def test_a_generated_key_is_shown_to_copy(clean_app, console, sheet_path):
    response = console.post(sheet_path + "/webhook-key/generate")

    assert response.status_code == 302
    assert response.headers["Location"] == sheet_path + "#webhooks"
    [(source, key)] = valid_keys(clean_app)
    assert source == "generated" and len(key) >= 43
    assert key in console.get(sheet_path).text


def test_a_pasted_key_keeps_the_previous_one_until_it_is_retired(clean_app, console, sheet_path):
    console.post(sheet_path + "/webhook-key/generate")
    console.post(sheet_path + "/webhook-key/paste", {"webhook_key": "  st-generated-key-0001  "})

    [(first, generated), (second, pasted)] = valid_keys(clean_app)
    assert (first, second, pasted) == ("generated", "pasted", "st-generated-key-0001")
    page = console.get(sheet_path).text
    assert "Previous key, still accepted while ServiceTitan switches" in page
    with clean_app.app_context():
        older = db.session.scalar(select(WebhookSigningKey.id).where(WebhookSigningKey.source == "generated"))
        newest = db.session.scalar(select(WebhookSigningKey.id).where(WebhookSigningKey.source == "pasted"))

    refused = console.post(sheet_path + f"/webhook-key/{newest}/retire", {"confirmed": "yes"})
    assert refused.status_code == 422
    assert "this is the newest key" in refused.text
    assert console.post(sheet_path + f"/webhook-key/{older}/retire", {"confirmed": "yes"}).status_code == 302
    assert valid_keys(clean_app) == [("pasted", "st-generated-key-0001")]


def test_each_environments_sheet_shows_its_own_webhook_url_and_keys(clean_app, console, make, sheet_path, web):
    """The fixture's client is the sandbox's; a second client is production's. A key made on
    one sheet is on that sheet only and authenticates only at that environment's URL."""
    production = make.client(name="ServiceTitan production")
    with clean_app.app_context():
        db.session.scalar(
            select(Client).where(Client.client_id == production.client_id)
        ).servicetitan_environment = "production"
        db.session.commit()
    production_path = f"/admin/clients/{production.client_id}/servicetitan"
    console.post(sheet_path + "/webhook-key/generate")
    console.post(production_path + "/webhook-key/paste", {"webhook_key": "st-production-key-0001"})

    sandbox_page, production_page = console.get(sheet_path).text, console.get(production_path).text
    assert value(sandbox_page, "value-webhook-url") == "http://localhost/servicetitan/webhooks/sandbox"
    assert value(production_page, "value-webhook-url") == "http://localhost/servicetitan/webhooks"
    with clean_app.app_context():
        keys = {row.environment: row for row in db.session.scalars(select(WebhookSigningKey))}
        sandbox_key = decrypt(keys["sandbox"].key_encrypted)
    assert sandbox_key in sandbox_page and sandbox_key not in production_page
    assert "st-production-key-0001" in production_page and "st-production-key-0001" not in sandbox_page
    header = clean_app.config["WEBHOOK_HEADER"]
    assert (
        web.post("/servicetitan/webhooks/sandbox/accounts", json={}, headers={header: sandbox_key}).status_code == 200
    )
    assert web.post("/servicetitan/webhooks/accounts", json={}, headers={header: sandbox_key}).status_code == 401
    # Another environment's key is not on this sheet: it cannot be retired from here.
    assert (
        console.post(sheet_path + f"/webhook-key/{keys['production'].id}/retire", {"confirmed": "yes"}).status_code
        == 404
    )


@pytest.mark.parametrize(
    "key",
    ["short", "has a space in the middle", "x" * 513, "caf\u00e9-is-not-header-safe-0001"],
)
def test_a_pasted_key_must_survive_a_request_header(clean_app, console, sheet_path, key):
    response = console.post(sheet_path + "/webhook-key/paste", {"webhook_key": key})

    assert response.status_code == 422
    assert field_error(response.text, "webhook-webhook_key").startswith(
        "paste the key exactly as ServiceTitan shows it"
    )
    assert valid_keys(clean_app) == []


# -- Extra Details ------------------------------------------------------------------------------


def parameters(app) -> list[tuple[str, str]]:
    with app.app_context():
        return [
            (p.key, p.display_name)
            for p in db.session.scalars(select(ExtraDetailParameter).order_by(ExtraDetailParameter.position))
        ]


def test_extra_details_are_saved_in_order(clean_app, console, sheet_path):
    response = console.post(
        "/admin/servicetitan/extra-details",
        {
            "key": ["campaign", "", "source_listing"],
            "display_name": ["Campaign", "", "Source listing"],
        },
    )

    assert response.status_code == 302
    assert parameters(clean_app) == [("campaign", "Campaign"), ("source_listing", "Source listing")]
    assert "Saved." in console.get(response.headers["Location"]).text
    assert "<code>source_listing</code>" in console.get(sheet_path).text


def test_the_extra_details_form_offers_rows_up_to_fifty(clean_app, console):
    rows = [(f"key{n}", f"Name {n}") for n in range(48)]
    console.post(
        "/admin/servicetitan/extra-details", {"key": [k for k, _ in rows], "display_name": [n for _, n in rows]}
    )

    page = console.get("/admin/servicetitan/extra-details").text

    assert page.count('name="key"') == 50
    assert 'for="extra-key-49">Parameter, row 50</label>' in page


@pytest.mark.parametrize(
    ("keys", "names", "expected"),
    [
        (
            ["campaign", "Campaign"],
            ["A", "B"],
            "Row 2: &#39;Campaign&#39; repeats row 1 (ServiceTitan ignores case: 11304)",
        ),
        (["campaign"], [""], "Row 1: give a display name of 1 to 128 characters"),
        ([""], ["Campaign"], "Row 1: give a parameter of 1 to 128 characters, without spaces"),
        (["two words"], ["Campaign"], "Row 1: give a parameter of 1 to 128 characters, without spaces"),
        (
            [f"k{n}" for n in range(51)],
            [f"N{n}" for n in range(51)],
            "ServiceTitan takes at most 50 parameters; 51 were given",
        ),
    ],
)
def test_extra_details_are_refused_whole(clean_app, console, keys, names, expected):
    console.post("/admin/servicetitan/extra-details", {"key": ["kept"], "display_name": ["Kept"]})

    response = console.post("/admin/servicetitan/extra-details", {"key": keys, "display_name": names})

    assert response.status_code == 422
    assert "Nothing was saved." in response.text
    assert expected in response.text
    assert parameters(clean_app) == [("kept", "Kept")]
