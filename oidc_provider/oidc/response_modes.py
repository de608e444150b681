"""How an authorization response reaches the client: an auto-submitted form, or a query.

form_post (OAuth 2.0 Form Post Response Mode) is the default: ServiceTitan always uses it.
Authlib's own form_post helper percent-encodes the values; ours is a Jinja template, so every
value is HTML-escaped instead.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from flask import current_app, g, render_template

FORM_POST = "form_post"
QUERY = "query"
SUPPORTED = (FORM_POST, QUERY)

# Pages that carry a code must not be cached, and must not leak it through a Referer.
_CODE_HEADERS = [("Cache-Control", "no-store"), ("Pragma", "no-cache"), ("Referrer-Policy", "no-referrer")]

Answer = tuple[int, str, list[tuple[str, str]]]  # Authlib's (status, body, headers)


def form_action_sources(redirect_uri: str) -> str:
    """The CSP ``form-action`` sources a form needs when its answer takes the browser to the
    client: the redirect URI's origin. Browsers apply form-action to the redirects that
    follow the POST as well, and a client's callback commonly redirects to another of its
    hosts (an identity host to the app): "https:" lets it, where the origin alone would
    leave the tenant on our page."""
    target = urlsplit(redirect_uri)
    return f"{target.scheme}://{target.netloc} https:"


def let_forms_redirect_to(redirect_uri: str) -> None:
    """The page being answered holds a form whose answer may redirect the browser to the
    client (query mode): its policy must let that redirect through (``page_form_action``)."""
    g.form_action_target = redirect_uri


def page_form_action() -> str:
    """The ``form-action`` of an ordinary page: this site, and the client when the page's
    forms may be answered by a redirect to it."""
    target = g.get("form_action_target")
    return f"'self' {form_action_sources(target)}" if target else "'self'"


def respond(redirect_uri: str, params: list[tuple[str, str]], response_mode: str) -> Answer:
    """Answer an authorization request, code or error. Every answer names us as its issuer
    (RFC 9207), so that a client talking to several servers can tell whose answer it is."""
    params = [*params, ("iss", current_app.config["ISSUER"])]
    if response_mode == QUERY:
        return 302, "", [("Location", add_params_to_uri(redirect_uri, params)), *_CODE_HEADERS]
    return form_post(redirect_uri, params)


def form_post(redirect_uri: str, params: list[tuple[str, str]]) -> Answer:
    nonce = secrets.token_urlsafe(16)
    body = render_template("form_post.html", action=redirect_uri, params=params, script_nonce=nonce)
    # The form must be allowed to reach the client; nothing else may run or load.
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; "
        f"form-action {form_action_sources(redirect_uri)}; frame-ancestors 'none'; base-uri 'none'"
    )
    return (
        200,
        body,
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Security-Policy", policy),
            *_CODE_HEADERS,
        ],
    )
