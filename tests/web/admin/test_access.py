"""Who gets into the console: every /admin route refuses an anonymous visitor and a tenant
user, and every form refuses a POST without its CSRF token (and accepts it with one)."""

from __future__ import annotations

import io
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from oidc_provider import create_app
from oidc_provider.core.extensions import db
from oidc_provider.core.models import AuditEvent
from tests.console import PNG, csrf_token, seed_world, sign_in_as


def _console_rules() -> list[tuple[str, str, str]]:
    """(endpoint, rule, method) of every console route but the sign-in page."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "SECRET_KEY": "routes",
            "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
        }
    )
    return sorted(
        (rule.endpoint, rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin") and rule.endpoint != "admin.auth.sign_in"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    )


CONSOLE_RULES = _console_rules()
PUBLIC = {"admin.auth.sign_in"}
SAMPLE_VALUES = {
    "client_id": "some-client",
    "account_id": "acct-hvac",
    "user_id": "1",
    "pairing_id": "1",
    "job_type_id": "1",
    "kid": "rs256-x",
    "key_id": "1",
    "admin_id": "1",
    "message_id": "1",
    "booking_id": "1",
    "delivery_id": "1",
    "environment": "sandbox",
    "api_client_id": "some-api-client",
}


def url(rule: str, values: dict) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), rule)


def audit_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_the_console_has_the_routes_these_tests_cover():
    endpoints = {endpoint for endpoint, _, _ in CONSOLE_RULES}
    assert len(endpoints) >= 40
    assert {
        "admin.home.index",
        "admin.clients.new",
        "admin.servicetitan.sheet",
        "admin.pairings.decision",
        "admin.keys.retire_key",
        "admin.audit_log.index",
        "admin.auth.sign_out",
    } <= endpoints


@pytest.mark.parametrize(("endpoint", "rule", "method"), CONSOLE_RULES)
def test_an_anonymous_visitor_is_sent_to_the_sign_in_page(clean_app, endpoint, rule, method):
    web = clean_app.test_client()
    token = csrf_token(web.get("/admin/login").text)
    path = url(rule, SAMPLE_VALUES)
    before = audit_count(clean_app)

    response = web.get(path) if method == "GET" else web.post(path, data={"csrf_token": token})

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/admin/login"
    # A page asked for comes back after sign-in; a form posted does not.
    assert parse_qs(location.query) == ({"next": [path]} if method == "GET" else {})
    assert audit_count(clean_app) == before


@pytest.mark.parametrize(("endpoint", "rule", "method"), CONSOLE_RULES)
def test_a_tenant_user_is_refused(clean_app, make, endpoint, rule, method):
    make.directory()
    web = clean_app.test_client()
    with clean_app.app_context():
        from oidc_provider.core.models import TenantUser

        owner = db.session.scalar(select(TenantUser.id).where(TenantUser.email == "owner@mtech.example"))
    sign_in_as(web, f"tenant:{owner}")
    token = csrf_token(web.get("/").text)  # the tenant's own page, with its sign-out form
    path = url(rule, SAMPLE_VALUES)
    before = audit_count(clean_app)

    response = web.get(path) if method == "GET" else web.post(path, data={"csrf_token": token})

    assert response.status_code == 403
    assert "Tenant accounts cannot use the admin console" in response.text
    assert audit_count(clean_app) == before


@pytest.mark.parametrize("path", ["/admin/", "/admin/accounts", "/admin/pairings", "/admin/login"])
def test_no_console_page_is_kept_by_a_cache(console, path):
    assert console.get(path).headers["Cache-Control"] == "no-store"


def test_an_admin_session_is_nobody_on_the_tenant_pages(console, make):
    """The two kinds of session never stand in for each other: an admin is asked to sign in
    as a tenant before any pairing."""
    make.directory()
    client = make.client()
    response = console.get(
        f"/authorize?client_id={client.client_id}&response_type=code&scope=openid"
        f"&state=s&redirect_uri={client.redirect_uri}"
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?pending=")


# -- CSRF ---------------------------------------------------------------------------------------

POST_ENDPOINTS = sorted({endpoint for endpoint, _, method in CONSOLE_RULES if method == "POST"})


def _form(endpoint: str, world: dict) -> dict:
    """A form that the endpoint accepts when it carries its CSRF token."""
    return {
        "admin.auth.sign_out": {},
        "admin.clients.new": {
            "name": "ServiceTitan",
            "redirect_uris": "https://st.example/cb",
            "scope": "openid",
            "id_token_alg": "RS256",
        },
        "admin.clients.rotate": {"grace_seconds": "0"},
        "admin.clients.enable": {},
        "admin.clients.disable": {"confirmed": "yes"},
        "admin.clients.delete": {"confirm_name": "ServiceTitan"},
        "admin.clients.upload_logo": {"logo": (io.BytesIO(PNG), "logo.png")},
        "admin.servicetitan.general": {"callback_url": "https://st.example/cb", "servicetitan_environment": "sandbox"},
        "admin.servicetitan.credentials": {"api_client_id": "st-api", "api_client_secret": "st-secret"},
        "admin.servicetitan.generate_webhook_key": {},
        "admin.servicetitan.paste_webhook_key": {"webhook_key": "pasted-webhook-key-0001"},
        "admin.servicetitan.retire_webhook_key": {"confirmed": "yes"},
        "admin.servicetitan.extra_details": {"key": "campaign", "display_name": "Campaign"},
        "admin.directory.new_account": {"id": "acct-new", "name": "New", "eligible": "on"},
        "admin.directory.edit_account": {"name": "MTech HVAC", "eligible": "on", "profiles": "p-north, North"},
        "admin.directory.eligibility": {"eligible": "no"},
        "admin.directory.new_user": {"email": "new@mtech.example", "password": "a long password"},
        "admin.directory.edit_user": {"email": "owner@mtech.example", "name": "Owner", "accounts": "acct-hvac"},
        "admin.directory.reset_password": {"new_password": "a new long password"},
        "admin.directory.import_file": {"file": (io.BytesIO(json.dumps({"accounts": []}).encode()), "d.json")},
        "admin.pairings.decision": {"decision": "approve"},
        "admin.pairings.unpair_pairing": {"confirmed": "yes"},
        "admin.keys.rotate_keys": {},
        "admin.keys.retire_key": {"confirmed": "yes"},
        "admin.job_types.add": {"category": "Plumbing", "partner_key": "plumb"},
        "admin.job_types.change": {"partner_key": "hvac-fix"},
        "admin.job_types.remove": {},
        "admin.job_types.import_csv": {"file": (io.BytesIO(b"Category,Partner Job Type Key\nHVAC,x\n"), "t.csv")},
        "admin.admins.add": {"email": "third@partner.example", "password": "long enough password"},
        "admin.admins.disable": {"confirmed": "yes"},
        "admin.admins.enable": {},
        "admin.admins.reset_password": {"new_password": "a new long password"},
        "admin.admins.remove": {"confirmed": "yes"},
        "admin.outbox.resend": {"confirmed": "yes"},
        "admin.outbox.discard": {"confirmed": "yes"},
        "admin.bookings.resend": {"confirmed": "yes"},
        "admin.bookings.discard": {"confirmed": "yes"},
        "admin.bookings.personal_data": {},
        "admin.deliveries.judge": {},
        "admin.api_clients.create": {"name": "Booking platform", "scope": "bookings:write"},
        "admin.api_clients.rotate": {"grace_seconds": "0", "confirmed": "yes"},
        "admin.api_clients.revoke": {"confirmed": "yes"},
        "admin.environment.choose": {"environment": "sandbox"},
    }[endpoint]


# Forms that change only what this admin's console shows, not what it manages: not audited.
VIEW_CHOICES = {"admin.environment.choose"}


@pytest.mark.parametrize("endpoint", POST_ENDPOINTS)
def test_every_form_needs_its_csrf_token(console, request, endpoint):
    signing_keys = endpoint.startswith("admin.keys.")
    if signing_keys:
        request.getfixturevalue("fresh_signing_keys")  # what the test rotates or retires goes away after it
    world = seed_world(console.app, retirable_key=signing_keys)
    values = {**SAMPLE_VALUES, **world, "key_id": world["older_webhook_key_id"]}
    if endpoint == "admin.admins.enable":
        values["admin_id"] = world["disabled_admin_id"]
    if endpoint == "admin.pairings.unpair_pairing":
        values["pairing_id"] = world["custom_pairing_id"]
    [rule] = [r for e, r, m in CONSOLE_RULES if e == endpoint and m == "POST"]
    path = url(rule, values)
    before = audit_count(console.app)

    for refused in ({}, {"csrf_token": "forged"}):
        response = console.post(path, {**_form(endpoint, world), **refused}, csrf=False)
        assert response.status_code == 400
        assert "This form has expired or did not come from our page." in response.text
        assert audit_count(console.app) == before

    response = console.post(path, _form(endpoint, world))
    assert response.status_code in (200, 201, 302), response.text
    if endpoint not in VIEW_CHOICES:
        assert audit_count(console.app) > before
