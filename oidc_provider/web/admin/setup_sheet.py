"""What the partner gives ServiceTitan's Leads Integration Manager, value by value.

Each value names the field of ServiceTitan's screen it belongs in, or says that it has no
field there (the account-info endpoint: ServiceTitan's partner manager must be told it).
The admin console's setup sheet and ``docs/servicetitan-setup.md`` list the same values.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from oidc_provider.core.models import Client
from oidc_provider.servicetitan.environments import PRODUCTION
from oidc_provider.servicetitan.webhooks import receiver_path
from oidc_provider.web.endpoints.discovery import endpoint_urls


@dataclass(frozen=True)
class SheetValue:
    name: str
    value: str
    # Where it goes in ServiceTitan's screen; None: there is no field for it.
    servicetitan_field: str | None
    note: str = ""


ENDPOINT_NAMES = {
    "authorization_endpoint": "Authorization endpoint",
    "token_endpoint": "Token endpoint",
    "userinfo_endpoint": "UserInfo endpoint",
    "jwks_uri": "JWKS (public signing keys)",
    "account_info_endpoint": "Account-info endpoint",
}

# What ServiceTitan posts under the webhook prefix (platform document, "Webhooks").
WEBHOOK_PATHS = (
    "/accounts",
    "/profiles",
    "/services",
    "/availabilities",
    "/leads/accepted",
    "/leads/declined",
    "/leads/appointment_scheduled",
    "/leads/invoiced",
)


def configuration_endpoint() -> str:
    return f"{current_app.config['ISSUER']}/.well-known/openid-configuration"


def urls_step(client: Client, secret: str | None) -> list[SheetValue]:
    """ServiceTitan's "URLs" step for Open ID Connect. The secret exists only right after
    the client was created or its secret rotated: it is stored as a hash."""
    secret_value = (
        SheetValue("Client Secret", secret, "Client Secret", "Shown this once: copy it now.")
        if secret
        else SheetValue(
            "Client Secret",
            "",
            "Client Secret",
            "Stored only as a hash and shown only when created or rotated. Rotate the secret to give ServiceTitan a new one.",
        )
    )
    return [
        SheetValue(
            "Configuration Endpoint",
            configuration_endpoint(),
            "Configuration Endpoint",
            "ServiceTitan reads every other endpoint from this discovery document.",
        ),
        SheetValue("Client ID", client.client_id, "Client ID"),
        secret_value,
        SheetValue(
            "Scopes",
            client.scope,
            "Scopes",
            "Type them separated by spaces; a scope the client was not registered with is dropped.",
        ),
    ]


def endpoints() -> list[SheetValue]:
    """Every endpoint by name; only account-info is not in the discovery document's
    standard fields, and ServiceTitan's screen has no field for it."""
    values = []
    for key, url in endpoint_urls(current_app.config["ISSUER"]).items():
        if key == "account_info_endpoint":
            values.append(
                SheetValue(ENDPOINT_NAMES[key], url, None, "Send this URL to your ServiceTitan partner manager.")
            )
        else:
            values.append(
                SheetValue(
                    ENDPOINT_NAMES[key],
                    url,
                    "Configuration Endpoint",
                    "ServiceTitan reads it from the discovery document: nothing to type.",
                )
            )
    return values


def custom_pairing_url() -> SheetValue:
    return SheetValue(
        "Partner Pairing URL",
        current_app.config["ISSUER"] + current_app.config["CUSTOM_PAIRING_PATH"],
        "Partner Pairing URL",
        "Only when the Tenant Authorization Type is ST Pairing (Custom pairing) instead of Open ID Connect.",
    )


def webhook_prefix(environment: str = PRODUCTION) -> SheetValue:
    """The WebHook URL of ``environment``'s integration: production's is the prefix itself,
    the sandbox's the prefix followed by /sandbox; each takes only its own keys."""
    url = current_app.config["ISSUER"] + receiver_path(current_app.config["WEBHOOK_PREFIX"], environment, "").rstrip(
        "/"
    )
    return SheetValue(
        "Webhook URL",
        url,
        "WebHook URL",
        f"For ServiceTitan's {environment} integration only. The prefix: ServiceTitan posts to "
        + ", ".join(WEBHOOK_PATHS)
        + " under it.",
    )
