"""Where ServiceTitan is: per environment, the identity and Leads API base URLs and the
API client credentials ServiceTitan issued to us.

The sandbox's URLs default to the platform document's; production has no default, since
a guessed production URL would send real tenants' data somewhere nobody checked. Stored
values (``flask servicetitan configure``, or the console) win over the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from flask import current_app

from oidc_provider.core import clock
from oidc_provider.core.encryption import decrypt, encrypt
from oidc_provider.core.extensions import db
from oidc_provider.core.models import ServiceTitanEnvironment
from oidc_provider.servicetitan.errors import NotConfigured

SANDBOX = "sandbox"
PRODUCTION = "production"
ENVIRONMENTS = (SANDBOX, PRODUCTION)

# The document spells the sandbox identity host three ways: "leads-identity-demo.st.dev"
# in "Server-to-server authentication" (with the full /connect/token URL) and again under
# "Testing", "marketing-integrations-identity-demo.st.dev" once in the endpoints table.
# The first is the one given as a complete token URL, twice, and it follows the naming of
# the booking API host beside it; configure the other if ServiceTitan says so.
SANDBOX_IDENTITY_URL = "https://leads-identity-demo.st.dev"
SANDBOX_API_URL = "https://leads-booking-api-demo.st.dev"

DEFAULT_URLS: dict[str, dict[str, str | None]] = {
    SANDBOX: {"identity_url": SANDBOX_IDENTITY_URL, "api_url": SANDBOX_API_URL},
    PRODUCTION: {"identity_url": None, "api_url": None},
}

TOKEN_PATH = "/connect/token"


@dataclass(frozen=True)
class Environment:
    """One environment, resolved: everything a Leads API call needs."""

    name: str
    identity_url: str
    api_url: str
    client_id: str
    client_secret: str = ""

    def __repr__(self) -> str:  # never the secret, in logs or tracebacks
        return f"Environment({self.name!r}, identity_url={self.identity_url!r}, api_url={self.api_url!r})"


def default_environment() -> str:
    """The environment of Custom pairings and of clients registered without one."""
    configured = current_app.config.get("SERVICETITAN_ENVIRONMENT")
    if configured:
        return configured
    return PRODUCTION if current_app.config["MODE"] == "production" else SANDBOX


def resolve(name: str) -> Environment:
    """The environment's settings; ``NotConfigured`` names whatever is missing."""
    if name not in ENVIRONMENTS:
        raise NotConfigured(f"unknown ServiceTitan environment {name!r}")
    row = db.session.get(ServiceTitanEnvironment, name)
    values = {
        "identity_url": (row.identity_url if row else None) or DEFAULT_URLS[name]["identity_url"],
        "api_url": (row.api_url if row else None) or DEFAULT_URLS[name]["api_url"],
        "client_id": row.client_id if row else None,
        "client_secret": decrypt(row.client_secret_encrypted) if row and row.client_secret_encrypted else None,
    }
    missing = [field for field, value in values.items() if not value]
    if missing:
        raise NotConfigured(
            f"the {name} environment lacks {', '.join(missing)}: run "
            f"`flask --app oidc_provider servicetitan configure {name}`"
        )
    return Environment(name=name, **cast(dict[str, str], values))  # every value is set: checked above


def configure(
    name: str,
    *,
    identity_url: str | None = None,
    api_url: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> ServiceTitanEnvironment:
    """Store what is given (``None`` leaves a value as it is); the caller commits."""
    if name not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {', '.join(ENVIRONMENTS)}")
    row = db.session.get(ServiceTitanEnvironment, name) or ServiceTitanEnvironment(name=name)
    if identity_url is not None:
        row.identity_url = _base_url(identity_url, strip=TOKEN_PATH)
    if api_url is not None:
        row.api_url = _base_url(api_url)
    if client_id is not None:
        row.client_id = client_id
    if client_secret is not None:
        row.client_secret_encrypted = encrypt(client_secret)
    row.updated_at = clock.now()
    db.session.add(row)
    return row


def describe(name: str) -> dict:
    """What an admin may see: URLs (stored or default), the client id, whether a secret is set."""
    row = db.session.get(ServiceTitanEnvironment, name)
    return {
        "environment": name,
        "identity_url": (row.identity_url if row else None) or DEFAULT_URLS[name]["identity_url"],
        "api_url": (row.api_url if row else None) or DEFAULT_URLS[name]["api_url"],
        "client_id": row.client_id if row else None,
        "client_secret_set": bool(row and row.client_secret_encrypted),
    }


def _base_url(url: str, strip: str = "") -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"{url!r} is not an http(s) URL")
    if strip and url.endswith(strip):
        url = url[: -len(strip)]
    return url
