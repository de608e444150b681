"""The go-live checklist for one ServiceTitan environment: everything ServiceTitan will
meet, checked before it does, each check with ok or a problem and what to do about it.

The checks make real calls where that is the only proof: discovery, the webhook
receivers and the Custom pairing URL are requested at the public issuer (so a proxy or a
wrong issuer shows up), and ServiceTitan's token server is asked for a token with our
credentials. Every call has SERVICETITAN_TIMEOUT. Nothing is written: the webhook
receivers are asked with GET (they answer 405 to anything but ServiceTitan's POST) and the
pairing URL without a session (it answers with the sign-in page).

Shared by the console's go-live page and ``flask --app oidc_provider servicetitan preflight``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import func, select

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Client, ExtraDetailParameter, JobType, OutboxMessage, SigningKey
from oidc_provider.oidc.keys import ASYMMETRIC_ALGS, keys_due_for_rotation
from oidc_provider.servicetitan import outbox
from oidc_provider.servicetitan.catalog import webhook_keys
from oidc_provider.servicetitan.environments import default_environment, resolve
from oidc_provider.servicetitan.errors import LeadsApiError
from oidc_provider.servicetitan.leads_api import request_token
from oidc_provider.servicetitan.webhooks import receiver_path

OK = "ok"
PROBLEM = "problem"
DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    status: str  # "ok" or "problem"
    detail: str  # what was found
    todo: str = ""  # what to do, when there is a problem

    @property
    def ok(self) -> bool:
        return self.status == OK


def _ok(id_: str, title: str, detail: str) -> Check:
    return Check(id_, title, OK, detail)


def _problem(id_: str, title: str, detail: str, todo: str) -> Check:
    return Check(id_, title, PROBLEM, detail, todo)


def run(environment: str) -> list[Check]:
    """Every check for ``environment``, in the order ServiceTitan meets them."""
    checks: list[Callable[[str], Check]] = [
        check_issuer,
        check_signing_keys,
        check_client,
        check_leads_api,
        check_webhooks,
        check_catalog,
        check_outbox,
        check_custom_pairing,
    ]
    return [check(environment) for check in checks]


def report(environment: str, checks: list[Check]) -> dict:
    """The checklist as ``--json`` prints it (docs/operations.md)."""
    return {
        "environment": environment,
        "ok": all(check.ok for check in checks),
        "checked_at": clock.now().isoformat(),
        "checks": [asdict(check) for check in checks],
    }


def _issuer() -> str:
    return current_app.config["ISSUER"]


def _get(url: str, **kwargs) -> requests.Response:
    timeout = current_app.config["SERVICETITAN_TIMEOUT"]
    return requests.get(url, timeout=(timeout, timeout), allow_redirects=False, **kwargs)


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_issuer(environment: str) -> Check:
    title = "The issuer is https and discovery answers at it"
    issuer = _issuer()
    parts = urlsplit(issuer)
    development = current_app.config["MODE"] != "production"
    if parts.scheme != "https" and not (development and _is_loopback(parts.hostname)):
        return _problem(
            "issuer",
            title,
            f"the issuer is {issuer}",
            "Set OIDC_PROVIDER_ISSUER to the public https URL ServiceTitan reaches, e.g. https://auth.partner.example "
            "(a loopback http issuer passes only in development mode).",
        )
    url = issuer + DISCOVERY_PATH
    try:
        response = _get(url)
        document = response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError) as error:
        return _problem(
            "issuer",
            title,
            f"{url} did not answer: {type(error).__name__}",
            "Make the issuer reachable: check DNS, the proxy in front, and OIDC_PROVIDER_TRUSTED_PROXY_COUNT.",
        )
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        found = f"HTTP {response.status_code}" if document is None else f"issuer {document.get('issuer')!r}"
        return _problem(
            "issuer",
            title,
            f"{url} answered {found}",
            "The discovery document must name exactly the issuer it is served under: set OIDC_PROVIDER_ISSUER to "
            "the URL ServiceTitan uses, and check that the proxy passes the Host header.",
        )
    return _ok("issuer", title, f"{url} names issuer {issuer}")


def check_signing_keys(environment: str) -> Check:
    title = "Signing keys are active and none is overdue for rotation"
    now = clock.now()
    rows = list(db.session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))))
    missing = [alg for alg in ASYMMETRIC_ALGS if not any(r.alg == alg and r.activates_at <= now for r in rows)]
    if missing:
        return _problem(
            "signing_keys",
            title,
            f"no active {' or '.join(missing)} key",
            "Run `flask --app oidc_provider keys rotate --activate-now`.",
        )
    if due := keys_due_for_rotation():
        return _problem(
            "signing_keys",
            title,
            "overdue for rotation: " + ", ".join(f"{key.kid} ({key.alg})" for key in due),
            "Run `flask --app oidc_provider keys rotate`; the new keys sign after the activation delay.",
        )
    return _ok("signing_keys", title, f"active {', '.join(ASYMMETRIC_ALGS)} keys, none overdue")


def _clients_of(environment: str) -> list[Client]:
    clients = db.session.scalars(select(Client).where(Client.enabled.is_(True)).order_by(Client.id))
    default = default_environment()
    return [c for c in clients if (c.servicetitan_environment or default) == environment]


def check_client(environment: str) -> Check:
    title = "A relying-party client has ServiceTitan's Callback URL as its redirect URI"
    clients = _clients_of(environment)
    if not clients:
        return _problem(
            "client",
            title,
            f"no enabled client for the {environment} environment",
            "Create a client in the console (Clients → New client) and, on its ServiceTitan setup sheet, paste the "
            "Callback URL that ServiceTitan's Leads Integration Manager shows and choose this environment.",
        )
    development = current_app.config["MODE"] != "production"
    for client in clients:
        for uri in client.redirect_uris:
            parts = urlsplit(uri)
            if parts.scheme == "https" or (development and _is_loopback(parts.hostname)):
                return _ok("client", title, f"client {client.name} ({client.client_id}) redirects to {uri}")
    return _problem(
        "client",
        title,
        f"no {environment} client has an https Callback URL as its redirect URI",
        "On the client's ServiceTitan setup sheet, paste the Callback URL that ServiceTitan shows.",
    )


def check_leads_api(environment: str) -> Check:
    title = "The Leads API credentials obtain a token"
    try:
        settings = resolve(environment)
        request_token(settings, requests.Session(), current_app.config["SERVICETITAN_TIMEOUT"])
    except LeadsApiError as error:
        return _problem(
            "leads_api",
            title,
            str(error),
            f"Check the URLs and the API client credentials ServiceTitan issued: "
            f"`flask --app oidc_provider servicetitan configure {environment}`, or the client's setup sheet.",
        )
    return _ok("leads_api", title, f"{settings.identity_url} issued a token")


def check_webhooks(environment: str) -> Check:
    title = "The webhook key is set and the receivers answer"
    if not webhook_keys.valid_keys(environment):
        return _problem(
            "webhooks",
            title,
            f"no webhook signing key is set for the {environment} environment: every delivery would be refused",
            f"Generate or paste the Webhook Message Signing Key on the setup sheet of the {environment} client, "
            "and enter the same key in ServiceTitan's webhook screen.",
        )
    url = _issuer() + receiver_path(current_app.config["WEBHOOK_PREFIX"], environment, "leads/accepted")
    try:
        response = _get(url)
    except requests.RequestException as error:
        return _problem(
            "webhooks", title, f"{url} did not answer: {type(error).__name__}", "Make the issuer reachable."
        )
    # The receiver takes only POST: a GET that reaches it is answered 405 and stores nothing.
    if response.status_code != 405:
        return _problem(
            "webhooks",
            title,
            f"{url} answered HTTP {response.status_code}, not the receiver's 405 to a GET",
            "Check OIDC_PROVIDER_WEBHOOK_PREFIX and that the proxy passes that path to the provider.",
        )
    return _ok("webhooks", title, f"a key is set and {url} answers")


def check_catalog(environment: str) -> Check:
    title = "Job types and extra details are configured"
    job_types = db.session.scalar(select(func.count()).select_from(JobType).where(JobType.partner_key.is_not(None)))
    details = db.session.scalar(select(func.count()).select_from(ExtraDetailParameter))
    missing = []
    if not job_types:
        missing.append("no job type has a partner key (bookings name one as slot.serviceId)")
    if not details:
        missing.append("no extra detail is configured")
    if missing:
        return _problem(
            "catalog",
            title,
            "; ".join(missing),
            "Fill ServiceTitan's Map Job Types template on the Job types page, and the Extra Details on theirs; "
            "give ServiceTitan the same lists.",
        )
    return _ok("catalog", title, f"{job_types} job type key(s), {details} extra detail(s)")


def check_outbox(environment: str) -> Check:
    title = "No failed outbox messages"
    failed = db.session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.state == outbox.FAILED, OutboxMessage.environment == environment)
    )
    if failed:
        return _problem(
            "outbox",
            title,
            f"{failed} message(s) to ServiceTitan's {environment} failed",
            "Open the console's Outbox: fix each cause, then resend or discard.",
        )
    return _ok("outbox", title, "none failed")


def check_custom_pairing(environment: str) -> Check:
    title = "For Custom pairing, the pairing URL answers"
    default = default_environment()
    if environment != default:
        return _ok("custom_pairing", title, f"Custom pairings report to {default}: nothing to check for {environment}")
    url = _issuer() + current_app.config["CUSTOM_PAIRING_PATH"]
    try:
        response = _get(url, params={"requestId": "go-live-check"})
    except requests.RequestException as error:
        return _problem(
            "custom_pairing", title, f"{url} did not answer: {type(error).__name__}", "Make the issuer reachable."
        )
    # Without a session the page sends the tenant to sign in: nothing is created.
    if response.status_code not in (200, 302) or (
        response.status_code == 302 and "/login" not in response.headers.get("Location", "")
    ):
        return _problem(
            "custom_pairing",
            title,
            f"{url} answered HTTP {response.status_code}",
            "Check OIDC_PROVIDER_CUSTOM_PAIRING_PATH and that the proxy passes that path; give ServiceTitan the "
            "Partner Pairing URL the setup sheet shows.",
        )
    return _ok("custom_pairing", title, f"{url} answers")
