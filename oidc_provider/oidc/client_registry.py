"""Registering relying parties: the rules, the generated credentials, the secret's lifecycle.

The command line and the admin console both call these functions, so a client is checked
by the same rules whichever way it is made.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from oidc_provider.core import clock
from oidc_provider.core.audit import record_event
from oidc_provider.core.encryption import encrypt
from oidc_provider.core.extensions import db
from oidc_provider.core.hashing import token_digest
from oidc_provider.core.models import Client
from oidc_provider.core.problems import Problem, ProblemError
from oidc_provider.servicetitan.catalog.logos import LogoError, check_logo

ID_TOKEN_ALGS = ("RS256", "ES256", "HS256")
SERVICETITAN_ENVIRONMENTS = ("sandbox", "production")
REDIRECT_URIS_MAX = 10
REDIRECT_URI_MAX_LENGTH = 2048
NAME_MAX = 128
# Long enough for any change window at ServiceTitan; an old secret must not live on for good.
GRACE_PERIOD_MAX = 30 * 24 * 3600


class ClientSettingsError(ProblemError):
    """Settings that break a rule; each problem names the field (``redirect_uris``, ``scope``)."""


@dataclass
class ClientSettings:
    name: str
    redirect_uris: list[str]
    scope: str = "openid"
    id_token_alg: str = "RS256"
    account_info_claim: bool = False
    async_pairing: bool = False
    remember_consent: bool = True

    def problems(self) -> list[Problem]:
        problems = []
        if not self.name.strip() or len(self.name) > NAME_MAX:
            problems.append(Problem("name", f"give a name of 1 to {NAME_MAX} characters"))
        uri_problems = [p for p in map(redirect_uri_problem, self.redirect_uris) if p]
        if not self.redirect_uris:
            problems.append(Problem("redirect_uris", "give at least one redirect URI"))
        elif len(self.redirect_uris) > REDIRECT_URIS_MAX:
            problems.append(Problem("redirect_uris", f"at most {REDIRECT_URIS_MAX} redirect URIs"))
        elif uri_problems:
            problems.append(Problem("redirect_uris", uri_problems[0]))
        scopes = self.scope.split()
        supported = current_app.config["SCOPES_SUPPORTED"]
        if "openid" not in scopes:
            problems.append(Problem("scope", "the scopes must include openid"))
        elif unknown := [s for s in scopes if s not in supported]:
            problems.append(Problem("scope", f"unsupported scope {unknown[0]!r}; choose from {' '.join(supported)}"))
        if self.id_token_alg not in ID_TOKEN_ALGS:
            problems.append(Problem("id_token_alg", f"choose one of {', '.join(ID_TOKEN_ALGS)}"))
        if self.account_info_claim and self.async_pairing:
            problems.append(
                Problem(
                    "async_pairing",
                    "the accountInfo claim ends pairing at once, so no request id would ever arrive: choose one of the two",
                )
            )
        return problems


def redirect_uri_problem(uri: str) -> str | None:
    """What is wrong with a redirect URI, or None. Exact URLs only: https, or http on a
    loopback address for development; no fragment, no user info."""
    if len(uri) > REDIRECT_URI_MAX_LENGTH:
        return f"a redirect URI is at most {REDIRECT_URI_MAX_LENGTH} characters"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return f"{uri!r} is not a URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{uri!r} must be an absolute https URL"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return f"{uri!r} must use https (http is only for loopback addresses)"
    if parts.fragment or "#" in uri:
        return f"{uri!r} must not have a fragment"
    if parts.username or parts.password:
        return f"{uri!r} must not carry user information"
    if any(c.isspace() for c in uri):
        return f"{uri!r} must not contain spaces"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_client_id() -> str:
    """18 random bytes, URL-safe, never starting with "-": the command line would take
    such an id for an option (``flask clients show -kX...``)."""
    client_id = secrets.token_urlsafe(18)
    while client_id.startswith("-"):
        client_id = secrets.token_urlsafe(18)
    return client_id


def new_secret() -> str:
    """256 bits, URL-safe: every reading of a Basic header gives the same bytes."""
    return secrets.token_urlsafe(32)


def _store_secret(client: Client, secret: str) -> None:
    if client.id_token_alg == "HS256":
        # The secret is also the id_token signing key (OpenID Connect Core 10.1).
        client.secret_hash, client.secret_encrypted = None, encrypt(secret)
    else:
        client.secret_hash, client.secret_encrypted = token_digest(secret), None


def create_client(
    settings: ClientSettings, actor: str = "cli", logo: tuple[str, bytes] | None = None
) -> tuple[Client, str]:
    """The new client and its secret: the only time the secret is ever shown. ``logo`` is
    a (file name, content) pair, checked with the settings so that every problem shows."""
    problems = settings.problems()
    logo_type = None
    if logo is not None:
        try:
            logo_type = check_logo(*logo)
        except LogoError as error:
            problems.append(Problem("logo", str(error)))
    if problems:
        raise ClientSettingsError(problems)
    client = Client(
        client_id=new_client_id(),
        name=settings.name.strip(),
        redirect_uris=list(dict.fromkeys(settings.redirect_uris)),
        scope=" ".join(dict.fromkeys(settings.scope.split())),
        id_token_alg=settings.id_token_alg,
        account_info_claim=settings.account_info_claim,
        async_pairing=settings.async_pairing,
        remember_consent=settings.remember_consent,
        default_response_mode="form_post",
        enabled=True,
        created_at=clock.now(),
    )
    if logo_type is not None:
        client.logo, client.logo_content_type = logo[1], logo_type
    secret = new_secret()
    _store_secret(client, secret)
    db.session.add(client)
    record_event("client_created", actor, {"client_id": client.client_id, "name": client.name})
    db.session.commit()
    return client, secret


def rotate_secret(client: Client, grace_seconds: int = 0, actor: str = "cli") -> str:
    """A new secret; the old one keeps working for ``grace_seconds`` so that ServiceTitan's
    configuration can be updated without a failed pairing."""
    if not 0 <= grace_seconds <= GRACE_PERIOD_MAX:
        raise ClientSettingsError([Problem("grace_period", f"must be 0 to {GRACE_PERIOD_MAX} seconds (30 days)")])
    if grace_seconds:
        client.previous_secret_hash = client.secret_hash
        client.previous_secret_encrypted = client.secret_encrypted
        client.previous_secret_expires_at = clock.now() + timedelta(seconds=grace_seconds)
    else:
        client.previous_secret_hash = client.previous_secret_encrypted = None
        client.previous_secret_expires_at = None
    secret = new_secret()
    _store_secret(client, secret)
    record_event("client_secret_rotated", actor, {"client_id": client.client_id, "grace_seconds": grace_seconds})
    db.session.commit()
    return secret


def set_enabled(client: Client, enabled: bool, actor: str = "cli") -> None:
    client.enabled = enabled
    record_event("client_enabled" if enabled else "client_disabled", actor, {"client_id": client.client_id})
    db.session.commit()


def delete_client(client: Client, actor: str = "cli") -> None:
    record_event("client_deleted", actor, {"client_id": client.client_id, "name": client.name})
    db.session.delete(client)
    db.session.commit()


def set_servicetitan_details(
    client: Client, callback_url: str, servicetitan_environment: str, multi_account_support: bool, actor: str
) -> None:
    """What ServiceTitan's "General Information" step shows or records: its Callback URL
    becomes the client's only redirect URI; the environment says which ServiceTitan this
    client is; multi account support is what ServiceTitan's admin ticked."""
    callback_url = callback_url.strip()
    problems = []
    if not callback_url:
        problems.append(Problem("callback_url", "paste the Callback URL that ServiceTitan shows"))
    elif problem := redirect_uri_problem(callback_url):
        problems.append(Problem("callback_url", problem))
    if servicetitan_environment not in SERVICETITAN_ENVIRONMENTS:
        problems.append(Problem("servicetitan_environment", f"choose {' or '.join(SERVICETITAN_ENVIRONMENTS)}"))
    if problems:
        raise ClientSettingsError(problems)
    client.redirect_uris = [callback_url]
    client.servicetitan_environment = servicetitan_environment
    client.multi_account_support = multi_account_support
    record_event(
        "client_servicetitan_details_saved",
        actor,
        {
            "client_id": client.client_id,
            "redirect_uri": callback_url,
            "servicetitan_environment": servicetitan_environment,
            "multi_account_support": multi_account_support,
        },
    )
    db.session.commit()


def set_logo(client: Client, filename: str, data: bytes, actor: str) -> None:
    """The partner logo for ServiceTitan's screen, checked by its content."""
    try:
        client.logo_content_type = check_logo(filename, data)
    except LogoError as error:
        raise ClientSettingsError([Problem("logo", str(error))]) from None
    client.logo = data
    record_event("client_logo_saved", actor, {"client_id": client.client_id, "bytes": len(data)})
    db.session.commit()


def find_client(client_id: str) -> Client | None:
    return db.session.scalar(select(Client).where(Client.client_id == client_id))


def describe(client: Client) -> dict:
    """The client's public settings, as the CLI's --json prints them."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "redirect_uris": client.redirect_uris,
        "scope": client.scope,
        "id_token_alg": client.id_token_alg,
        "account_info_claim": client.account_info_claim,
        "async_pairing": client.async_pairing,
        "remember_consent": client.remember_consent,
        "default_response_mode": client.default_response_mode,
        "enabled": client.enabled,
        "created_at": client.created_at.isoformat(),
    }
