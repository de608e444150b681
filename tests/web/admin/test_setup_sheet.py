"""The values we give ServiceTitan, each with the field of its screen it belongs in."""

from __future__ import annotations

from oidc_provider.core.models import Client
from oidc_provider.web.admin import setup_sheet


def test_the_urls_step(clean_app):
    client = Client(client_id="st-client", scope="openid profile")
    with clean_app.test_request_context():
        with_secret = setup_sheet.urls_step(client, "the-secret")
        without = setup_sheet.urls_step(client, None)

    assert [(v.name, v.value, v.servicetitan_field) for v in with_secret] == [
        ("Configuration Endpoint", "http://localhost/.well-known/openid-configuration", "Configuration Endpoint"),
        ("Client ID", "st-client", "Client ID"),
        ("Client Secret", "the-secret", "Client Secret"),
        ("Scopes", "openid profile", "Scopes"),
    ]
    assert without[2].value == "" and "Rotate the secret" in without[2].note


def test_every_endpoint_and_the_one_without_a_field(clean_app):
    with clean_app.test_request_context():
        endpoints = setup_sheet.endpoints()

    assert [(v.name, v.servicetitan_field) for v in endpoints] == [
        ("Authorization endpoint", "Configuration Endpoint"),
        ("Token endpoint", "Configuration Endpoint"),
        ("UserInfo endpoint", "Configuration Endpoint"),
        ("JWKS (public signing keys)", "Configuration Endpoint"),
        ("Account-info endpoint", None),
    ]
    assert endpoints[-1].value == "http://localhost/account-info"
    assert "partner manager" in endpoints[-1].note


def test_custom_pairing_and_webhooks_follow_the_settings(clean_app, monkeypatch):
    monkeypatch.setitem(clean_app.config, "CUSTOM_PAIRING_PATH", "/custom")
    monkeypatch.setitem(clean_app.config, "WEBHOOK_PREFIX", "/hooks")
    with clean_app.test_request_context():
        assert setup_sheet.custom_pairing_url().value == "http://localhost/custom"
        webhook = setup_sheet.webhook_prefix()
    assert (webhook.value, webhook.servicetitan_field) == ("http://localhost/hooks", "WebHook URL")
    assert "/leads/appointment_scheduled" in webhook.note
