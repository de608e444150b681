"""The tenant's side of an authorization request: sign in, choose an account, consent.

A validated request that needs the user is kept in the (signed, client-side) session under
a random id while the user signs in or answers the consent page, then replayed and
validated again. Nothing lives in process memory, so any instance can continue it.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from authlib.oauth2 import OAuth2Error
from authlib.oidc.core.errors import AccountSelectionRequiredError, ConsentRequiredError, LoginRequiredError
from flask import current_app, redirect, render_template, session, url_for
from flask_login import current_user
from sqlalchemy import bindparam, select

from oidc_provider.core import clock
from oidc_provider.core.extensions import db
from oidc_provider.core.models import Account, Consent, TenantUser, detached
from oidc_provider.directory import account_directory
from oidc_provider.oidc import response_modes
from oidc_provider.oidc.authorization_checks import id_token_hint_subject, max_age, prompt_values, response_mode
from oidc_provider.oidc.server import authorization_server
from oidc_provider.pairing.lifecycle import acceptable_choice, unpairable_reason

PENDING_KEY = "pending_authorizations"
PENDING_MAX = 5

_consents = Consent.__table__
# Read on every authorization request of a signed-in tenant (see docs/performance.md).
_SELECT_CONSENT = select(_consents).where(
    _consents.c.user_id == bindparam("user_id"), _consents.c.client_pk == bindparam("client_pk")
)


def tenant_user() -> TenantUser | None:
    return current_user if isinstance(current_user, TenantUser) else None


def start(http_request):
    """``/authorize``: validate the request as it arrived, then continue it."""
    server = authorization_server()
    oauth_request = server.create_oauth2_request(http_request)
    try:
        grant = server.get_consent_grant(oauth_request, end_user=tenant_user())
    except OAuth2Error as error:
        return _refuse(server, oauth_request, error)
    params = {key: values[0] for key, values in oauth_request.payload.datalist.items()}
    return _continue(server, grant, params, started=clock.now().timestamp())


def resume(pending_id: str):
    """Continue a kept request after the user signed in."""
    pending = _recall(pending_id)
    if pending is None:
        return _expired_page()
    server = authorization_server()
    oauth_request = server.create_oauth2_request(pending["params"])
    try:
        grant = server.get_consent_grant(oauth_request, end_user=tenant_user())
    except OAuth2Error as error:
        return _refuse(server, oauth_request, error)
    return _continue(
        server,
        grant,
        pending["params"],
        started=pending["started"],
        pending_id=pending_id,
        signed_in_for_it=pending.get("signed_in", False),
    )


def decide(pending_id: str, allowed: bool, account_id: str | None):
    """The consent page's answer: Allow with the chosen account, or Deny."""
    pending = _recall(pending_id)
    if pending is None:
        return _expired_page()
    user = tenant_user()
    if user is None:
        return redirect(url_for("login.sign_in", pending=pending_id))
    server = authorization_server()
    oauth_request = server.create_oauth2_request(pending["params"])
    try:
        grant = server.get_consent_grant(oauth_request, end_user=user)
    except OAuth2Error as error:
        return _refuse(server, oauth_request, error)
    accounts = account_directory().pairable_accounts(user)
    account = next((a for a in accounts if a.id == account_id), None)
    if allowed and not acceptable_choice(accounts, account):
        # The request stays kept, so that the page which says so can still be answered.
        consent = _remembered_consent(user, grant)
        return _consent_page(grant, user, pending_id, accounts, consent, error="Choose one of your accounts.")
    _forget(pending_id)
    if not allowed:
        return server.create_authorization_response(oauth_request, grant_user=None, grant=grant)
    if grant.client.remember_consent:
        _remember_consent(user, grant, account)
    return _issue(server, grant, user, account)


def requests_kept_across_sign_in() -> dict:
    """The kept requests, for the new session that sign-in starts, each marked as signed in
    for: the sign-in happened after it arrived. That fact, not a comparison of timestamps,
    satisfies its prompt=login or max_age, since the instance that took the request and the
    one that took the sign-in may disagree about the time by a few seconds."""
    kept = session.get(PENDING_KEY, {})
    return {pending_id: {**pending, "signed_in": True} for pending_id, pending in kept.items()}


def login_hint(pending_id: str) -> str:
    """The ``login_hint`` of a kept request, to prefill the sign-in form."""
    pending = _recall(pending_id)
    return pending["params"].get("login_hint", "") if pending else ""


def let_sign_in_redirect(pending_id: str) -> None:
    """The sign-in page of a kept request in query mode: signing in may be answered by a
    redirect to the client (with remembered consent), which the page's policy must allow."""
    pending = _recall(pending_id)
    if pending and pending.get("query_redirect_uri"):
        response_modes.let_forms_redirect_to(pending["query_redirect_uri"])


def _query_redirect_uri(grant) -> str | None:
    """Where the answer to this request redirects the browser: the redirect URI in query
    mode; nowhere in form_post mode, which answers with a page of ours."""
    return grant.redirect_uri if response_mode(grant.request) == response_modes.QUERY else None


def _continue(
    server, grant, params: dict, started: float, pending_id: str | None = None, signed_in_for_it: bool = False
):
    request = grant.request
    prompts = prompt_values(request)
    user = tenant_user()
    if _needs_sign_in(user, request, started, signed_in_for_it):
        if "none" in prompts:
            return _refuse(server, request, LoginRequiredError(redirect_uri=grant.redirect_uri))
        pending_id = pending_id or _remember(grant, params, started)
        return redirect(url_for("login.sign_in", pending=pending_id))
    if id_token_hint_subject(request) not in (None, user.subject):
        # The client asked for another user than the one signed in (OpenID Connect Core 3.1.2.2).
        return _refuse(server, request, LoginRequiredError(redirect_uri=grant.redirect_uri))

    accounts = account_directory().pairable_accounts(user)
    consent = _remembered_consent(user, grant)
    account = _account_without_asking(grant, prompts, accounts, consent)
    if account is not None:
        if pending_id:
            _forget(pending_id)
        return _issue(server, grant, user, account)
    if "none" in prompts:
        error_type = AccountSelectionRequiredError if consent and len(accounts) > 1 else ConsentRequiredError
        return _refuse(server, request, error_type(redirect_uri=grant.redirect_uri))
    pending_id = pending_id or _remember(grant, params, started)
    return _consent_page(grant, user, pending_id, accounts, consent)


def _needs_sign_in(user: TenantUser | None, request, started: float, signed_in_for_it: bool) -> bool:
    if user is None:
        return True
    if signed_in_for_it:
        return False
    auth_time = session.get("auth_time", 0)
    if "login" in prompt_values(request) and auth_time < started:
        return True
    # max_age counts back from when the request arrived, so the sign-in it asked for
    # satisfies it however long the way back from the sign-in page takes.
    limit = max_age(request)
    return limit is not None and auth_time + limit < started


def _account_without_asking(grant, prompts, accounts: list[Account], consent: Consent | None) -> Account | None:
    """The account to pair when the consent page need not be shown, else None.

    Remembered consent spares a user with one account the page; a user with several sees
    the choice on every interactive request (pairing another account is what ServiceTitan's
    "Add Account" is for), and ``prompt=none`` reuses the last choice."""
    if consent is None or prompts & {"consent", "select_account"} or not accounts:
        return None
    if len(accounts) == 1:
        return accounts[0]
    if "none" in prompts:
        return next((a for a in accounts if a.id == consent.account_id and acceptable_choice(accounts, a)), None)
    return None


def _remembered_consent(user: TenantUser, grant) -> Consent | None:
    if not grant.client.remember_consent:
        return None
    row = db.session.execute(_SELECT_CONSENT, {"user_id": user.id, "client_pk": grant.client.id}).first()
    consent = detached(Consent, row) if row else None
    if consent is None or consent.expires_at <= clock.now():
        return None
    if not set(grant.request.scope.split()) <= set(consent.scope.split()):
        return None
    return consent


def _remember_consent(user: TenantUser, grant, account: Account) -> None:
    consent = db.session.scalar(
        select(Consent).where(Consent.user_id == user.id, Consent.client_pk == grant.client.id)
    ) or Consent(user_id=user.id, client_pk=grant.client.id)
    now = clock.now()
    consent.scope = grant.request.scope
    consent.account_id = account.id
    consent.granted_at = now
    consent.expires_at = now + timedelta(seconds=current_app.config["CONSENT_LIFETIME"])
    db.session.add(consent)
    db.session.commit()


def _issue(server, grant, user: TenantUser, account: Account):
    grant.request.account = account
    grant.request.auth_time = int(session.get("auth_time", 0))
    return server.create_authorization_response(grant.request, grant_user=user, grant=grant)


def _refuse(server, request, error: OAuth2Error):
    """Errors go back to the client only once its redirect URI is trusted; otherwise the
    browser is sent nowhere and the user sees why."""
    error.state = request.payload.state
    if error.redirect_uri:
        return server.handle_error_response(request, error)
    body = render_template("error.html", error=error.error, description=error.description)
    return body, 400, {"Cache-Control": "no-store"}


def _consent_page(
    grant, user: TenantUser, pending_id: str, accounts: list[Account], consent: Consent | None, error: str | None = None
):
    if query_redirect_uri := _query_redirect_uri(grant):
        response_modes.let_forms_redirect_to(query_redirect_uri)
    return (
        render_template(
            "consent.html",
            client=grant.client,
            scopes=grant.request.scope.split(),
            accounts=accounts,
            preselected=suggested_account_id(accounts, consent.account_id if consent else None),
            pending_id=pending_id,
            user=user,
            error=error,
        ),
        200,
        {"Cache-Control": "no-store"},
    )


def suggested_account_id(accounts: list[Account], last_choice: str | None = None) -> str | None:
    """The account an account-choice page preselects: the last choice, else the first
    account that can actually be paired (eligible, with profiles)."""
    if last_choice is not None:
        return last_choice
    return next((a.id for a in accounts if a.eligible and unpairable_reason(a) is None), None)


def _expired_page():
    body = render_template(
        "error.html",
        error="expired",
        description="This sign-in took too long or was already finished. Start the pairing again from ServiceTitan.",
    )
    return body, 400, {"Cache-Control": "no-store"}


def _remember(grant, params: dict, started: float) -> str:
    pending = dict(session.get(PENDING_KEY, {}))
    # Keep the cookie small: only the newest few requests are resumable.
    for old in sorted(pending, key=lambda k: pending[k]["started"])[: max(0, len(pending) - PENDING_MAX + 1)]:
        del pending[old]
    pending_id = secrets.token_urlsafe(12)
    pending[pending_id] = {"params": params, "started": started}
    if query_redirect_uri := _query_redirect_uri(grant):
        pending[pending_id]["query_redirect_uri"] = query_redirect_uri
    session[PENDING_KEY] = pending
    return pending_id


def _recall(pending_id: str | None) -> dict | None:
    return session.get(PENDING_KEY, {}).get(pending_id or "")


def _forget(pending_id: str) -> None:
    pending = dict(session.get(PENDING_KEY, {}))
    pending.pop(pending_id, None)
    session[PENDING_KEY] = pending
