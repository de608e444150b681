"""Browser defences on every page: framing, sniffing, referrers, CSP, HSTS, cookies, CSRF.

The route-walking tests take every rule of the URL map, so a page added later is covered
without being named here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from oidc_provider import create_app

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
#: POST endpoints that machines or other sites call, each guarded by something other than
#: a CSRF token: the relying party's authorization request by its state, the back channel
#: by client or bearer authentication, webhooks by ServiceTitan's signing key.
BACK_CHANNEL_POSTS = ("/authorize", "/token", "/userinfo")


def filled(rule) -> str:
    """The rule's path with a placeholder for every argument."""
    return re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: "1" if m.group(1) == "int" else "x", rule.rule)


def routes(app, method: str) -> list[str]:
    return sorted({filled(rule) for rule in app.url_map.iter_rules() if method in rule.methods})


def is_back_channel(app, path: str) -> bool:
    # The partner API (/api/v1) takes bearer tokens, never cookies: nothing to forge.
    return (
        path in BACK_CHANNEL_POSTS or path.startswith(app.config["WEBHOOK_PREFIX"] + "/") or path.startswith("/api/v1/")
    )


def test_every_get_route_and_error_page_carries_the_browser_defences(clean_app, web):
    paths = routes(clean_app, "GET") + ["/no-such-page", "/token"]  # a 404 and a 405

    for path in paths:
        response = web.get(path)
        assert response.headers["X-Frame-Options"] == "DENY", path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy, path
        assert "object-src 'none'" in policy or "default-src 'none'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
        assert "Strict-Transport-Security" not in response.headers, path  # an http issuer


def test_pages_of_the_pairing_carry_the_defences_too(make, flows):
    """The sign-in redirect, the consent page and the form_post page, not only bare GETs."""
    make.directory()
    client = make.client()
    to_sign_in = flows.authorize(client)
    consent = flows.sign_in(to_sign_in)
    form_post = flows.decide(consent)

    for response in (to_sign_in, consent, form_post):
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert form_post.headers["Cache-Control"] == "no-store"
    assert consent.headers["Cache-Control"] == "no-store"


def test_every_browser_post_refuses_a_request_without_the_csrf_token(clean_app, web):
    browser_posts = [p for p in routes(clean_app, "POST") if not is_back_channel(clean_app, p)]
    assert "/login" in browser_posts and "/authorize/decision" in browser_posts

    for path in browser_posts:
        response = web.post(path, data={"email": "owner@mtech.example", "decision": "allow"})
        assert response.status_code == 400, path
        assert "This form has expired or did not come from our page" in response.text, path


def test_the_back_channel_posts_are_the_only_ones_without_csrf(clean_app, web):
    exempt = [p for p in routes(clean_app, "POST") if is_back_channel(clean_app, p)]

    assert set(BACK_CHANNEL_POSTS) <= set(exempt)
    token = web.post("/token", data={"grant_type": "authorization_code"})
    assert token.status_code == 401  # client authentication, not CSRF, refuses it
    assert token.json["error"] == "invalid_client"
    booking = web.post("/api/v1/bookings", json={})
    assert booking.status_code == 401  # the bearer token, not CSRF, refuses it


def test_every_form_in_the_templates_carries_a_csrf_token():
    """form_post.html is the one form that leaves for another site: it carries the code."""
    forms = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        for form in re.findall(r"<form\b.*?</form>", template.read_text(), flags=re.S | re.I):
            if re.search(r'method="post"', form, re.I):
                forms.append((template.relative_to(TEMPLATES).as_posix(), form))

    assert forms
    for name, form in forms:
        if name == "form_post.html":
            assert "csrf" not in form
            continue
        # csrf_token(), a macro that renders it (the console's ui.csrf()), or a Flask-WTF form's hidden_tag().
        assert re.search(r"csrf_token\(\)|\.csrf\(\)|hidden_tag\(\)", form), name


def session_cookie_attributes(response) -> dict[str, str | bool]:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    attributes: dict[str, str | bool] = {}
    for part in header.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        attributes[name.lower()] = value or True
    return attributes


def test_the_session_cookie_is_httponly_and_samesite_lax_in_development(web):
    attributes = session_cookie_attributes(web.get("/login"))

    assert attributes["httponly"] is True
    assert attributes["samesite"] == "Lax"
    assert "secure" not in attributes  # an http issuer on loopback: the browser must send it back


@pytest.fixture
def production_app(tmp_path, monkeypatch):
    for name in ("OIDC_PROVIDER_MODE", "OIDC_PROVIDER_ISSUER", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(
        {
            "MODE": "production",
            "ISSUER": "https://op.partner.example",
            "SECRET_KEY": "s" * 32,
            "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
            "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/15",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'production.sqlite'}",
        }
    )
    app.instance_path = str(tmp_path)
    return app


def test_outside_development_the_session_cookie_is_also_secure(production_app):
    response = production_app.test_client().get("/login", base_url="https://op.partner.example")
    attributes = session_cookie_attributes(response)

    assert attributes["secure"] is True
    assert attributes["httponly"] is True
    assert attributes["samesite"] == "Lax"


def test_an_https_issuer_sends_hsts_on_pages_and_json(production_app):
    web = production_app.test_client()

    for path in ("/login", "/.well-known/openid-configuration", "/no-such-page"):
        response = web.get(path, base_url="https://op.partner.example")
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains", path
